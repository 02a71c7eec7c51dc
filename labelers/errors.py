"""The exception tree of alchemist-engine.

Faults in *generated* code are results (see ``sandbox`` apply reports), never these.
These are faults in our machinery or in the user's input, and every message says what
to do about it.

* AlchemistError
  + DataError          -- a dataset file is missing, malformed or inconsistent
  + TaskError          -- unknown task, bad task file
  + RegistryError      -- the labeler registry is missing, corrupt, foreign or locked
  + SandboxError       -- a runner cannot be started (no engine, no image, ...)
  + ProviderError      -- an LLM call failed after retries, or was refused
    - BudgetExceeded   -- a call would take the run over ``--budget-usd``
    - MissingRecording -- the replay provider has no recording for a prompt
  + ModelError         -- a label model or end model cannot be fitted, saved or loaded
"""

from __future__ import annotations


class AlchemistError(Exception):
    """Root of every error alchemist-engine raises on purpose."""


class DataError(AlchemistError):
    """A dataset cannot be read: the message names the file, the row and the problem."""


class TaskError(AlchemistError):
    """A task spec is unknown or invalid."""


class RegistryError(AlchemistError):
    """The labeler registry cannot be opened or written."""


class SandboxError(AlchemistError):
    """A sandbox runner cannot be started or its worker broke the protocol."""


class ProviderError(AlchemistError):
    """An LLM provider call failed in a way retries could not fix."""


class BudgetExceeded(ProviderError):
    """The next call would exceed the run's dollar budget."""


class MissingRecording(ProviderError):
    """The replay provider has no recording for the prompt it was asked."""


class ModelError(AlchemistError):
    """A label model or end model cannot be fitted, saved or loaded."""

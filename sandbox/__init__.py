"""Everything that touches untrusted code: validation, workers, runners.

Generated programs never run in the engine's process. :func:`validate` checks a program
statically; a :class:`Runner` (``docker`` > ``bwrap`` > ``subprocess``) runs it in an
isolated worker and returns an int8 label matrix plus per-labeler faults.
"""

from .image import IMAGE, engine_running, ensure_engine, ensure_image, image_exists
from .limits import Limits
from .policy import Policy
from .result import ApplyResult, LabelerFault
from .runners import RUNNERS, Runner, available_runners, dry_run, get_runner, runner_status
from .validate import Issue, ValidationReport, validate

__all__ = [
    "IMAGE",
    "RUNNERS",
    "ApplyResult",
    "Issue",
    "LabelerFault",
    "Limits",
    "Policy",
    "Runner",
    "ValidationReport",
    "available_runners",
    "dry_run",
    "engine_running",
    "ensure_engine",
    "ensure_image",
    "get_runner",
    "image_exists",
    "runner_status",
    "validate",
]

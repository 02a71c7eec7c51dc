"""Prompt templates as data (``engine/assets/prompts/*.toml``), each with an id.

A template file holds ``id``, ``system`` and ``user`` strings with ``$name``
placeholders (``string.Template``: braces in code examples need no escaping). The task
spec fills them; the user can override the mission statement and the prior query.
The template id goes into every labeler's metadata, so a prompt change is a new id.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from ..labelers import ABSTAIN, TaskError, TaskSpec

PRIOR_KINDS = ("heuristics", "keywords", "description", "examples")


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    system: str
    user: str
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, **values: Any) -> list[dict[str, str]]:
        """Chat messages (system + user). A missing value is a bug in the caller: KeyError."""
        vals = {k: str(v) for k, v in values.items()}
        return [
            {"role": "system", "content": Template(self.system).substitute(vals)},
            {"role": "user", "content": Template(self.user).substitute(vals)},
        ]


@cache
def _load(name: str) -> dict[str, Any]:
    ref = resources.files("alchemist_engine.engine") / "assets" / "prompts" / f"{name}.toml"
    return tomllib.loads(ref.read_text(encoding="utf-8"))


def template(name: str) -> PromptTemplate:
    """The template in ``assets/prompts/<name>.toml``."""
    doc = _load(name)
    extra = {k: v for k, v in doc.items() if k not in ("id", "system", "user")}
    return PromptTemplate(id=doc["id"], system=doc["system"], user=doc["user"], extra=extra)


def diversity_hint(sample: int) -> str:
    """The hint for the ``sample``-th program of a run (cycled)."""
    hints: list[str] = _load("diversity")["hints"]
    return hints[sample % len(hints)]


def task_values(task: TaskSpec, mission: str | None = None) -> dict[str, str]:
    """The placeholders every template may use, filled from the task spec."""
    return {
        "mission": mission or task.mission,
        "input_description": task.input_description,
        "instruction": task.labeling_instruction(),
        "class_list": ", ".join(f"{n} ({i})" for i, n in sorted(task.classes.items())),
        "class_ids": ", ".join(str(i) for i in sorted(task.classes)),
        "abstain": str(ABSTAIN),
    }


def prior_query(kind: str, task: TaskSpec, override: str | None = None) -> str:
    """The question the prior model answers: ``--prior-query``, the task's own, or the kind's default."""
    if kind not in PRIOR_KINDS:
        raise TaskError(f"unknown prior kind {kind!r}: choose {', '.join(PRIOR_KINDS)} or all")
    if override:
        return override
    if task.prior_query:
        return task.prior_query
    queries: dict[str, str] = _load("prior")["queries"]
    return queries[kind]

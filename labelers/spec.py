"""Core vocabulary: the abstain value, task specs and labeler specs.

Pure data, no I/O. Names follow the weak-supervision literature (Snorkel): a labeler
returns a class id in ``0..k-1`` or ``ABSTAIN`` (-1); ``L`` is the n x m label matrix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

ABSTAIN = -1

#: The name every generated program must define; it takes one string and returns an int.
ENTRY_POINT = "label_function"

#: Version of the JSON metadata written next to every stored labeler.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TaskSpec:
    """A classification task as the prompts and the metrics see it.

    ``classes`` maps class id to class name, ids ``0..k-1``. ``mission`` is the
    mission statement that opens every synthesis prompt. ``positive_class`` is set
    for tasks evaluated with binary F1 (sms: spam=1).
    """

    name: str
    classes: dict[int, str]
    mission: str
    input_field: str = "text"
    input_description: str = "a text"
    positive_class: int | None = None
    metric: str = "accuracy"
    prior_query: str | None = None

    def __post_init__(self) -> None:
        ids = sorted(self.classes)
        if ids != list(range(len(ids))) or len(ids) < 2:
            raise ValueError(
                f"task {self.name!r}: class ids must be 0..k-1 with k >= 2, got {ids}"
            )

    @property
    def cardinality(self) -> int:
        return len(self.classes)

    def labeling_instruction(self) -> str:
        """'return 1 for spam, 0 for ham, -1 to abstain' -- the prompt's contract line."""
        parts = [f"{cid} for {name}" for cid, name in sorted(self.classes.items())]
        return "return " + ", ".join(parts) + f", and {ABSTAIN} to abstain when unsure"


def content_hash(source: str) -> str:
    """Stable hash of a program's text (sha256, hex), used for caching and dedupe."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


@dataclass
class LabelerSpec:
    """One labeling program: its id, its task, its source text and its metadata.

    ``metadata`` is the JSON stored beside the program in the registry (mode, prompt,
    model, tokens, cost, validation report, parent, ...). ``enabled`` False keeps the
    labeler in the registry but out of apply.
    """

    id: str
    task: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    @property
    def content_hash(self) -> str:
        return content_hash(self.source)

"""What an apply returns: the label matrix and, per faulty labeler, what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LabelerFault:
    """Faults of one labeler in one apply.

    ``count`` rows raised (or 1 for a kill/violation); ``first_error`` says what happened
    first; ``quarantined`` means every row of this labeler abstains in the matrix.
    """

    count: int
    first_error: str
    quarantined: bool

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "first_error": self.first_error, "quarantined": self.quarantined}


@dataclass
class ApplyResult:
    """``matrix`` is (rows, labelers) int8 with -1 = abstain, columns in ``labeler_ids`` order."""

    matrix: np.ndarray
    labeler_ids: list[str]
    faults: dict[str, LabelerFault] = field(default_factory=dict)
    runner: str = ""
    lowered: list[str] = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    restarts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": int(self.matrix.shape[0]),
            "labeler_ids": list(self.labeler_ids),
            "faults": {k: v.to_dict() for k, v in self.faults.items()},
            "runner": self.runner,
            "lowered": list(self.lowered),
            "seconds": round(self.seconds, 4),
            "startup_seconds": round(self.startup_seconds, 4),
            "restarts": self.restarts,
        }

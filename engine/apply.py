"""Apply stored labelers to a dataset through a sandbox runner: the label matrix ``L``.

The engine never executes a labeler itself: it hands programs and the text column to a
:mod:`sandbox` runner and gets back int8 votes plus per-labeler fault reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..labelers import ABSTAIN, LabelerSpec, TaskSpec
from ..sandbox import ApplyResult, Runner, get_runner


@dataclass
class ApplyReport:
    """What ``apply`` did: the matrix, who ran it, how fast, and every labeler's faults."""

    matrix: np.ndarray
    labeler_ids: list[str]
    runner: str
    rows: int
    seconds: float
    lowered: list[str] = field(default_factory=list)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_hits: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def coverage(self) -> dict[str, float]:
        if self.rows == 0:
            return {i: 0.0 for i in self.labeler_ids}
        cov = (self.matrix != ABSTAIN).mean(axis=0)
        return {i: float(c) for i, c in zip(self.labeler_ids, cov, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "runner": self.runner,
            "rows": self.rows,
            "labelers": len(self.labeler_ids),
            "lowered": len(self.lowered),
            "seconds": round(self.seconds, 4),
            "rows_per_s": round(self.rows_per_s, 1),
            "coverage": {k: round(v, 4) for k, v in self.coverage().items()},
            "faults": self.faults,
            "cache_hits": self.cache_hits,
        }

    def to_arrow(self) -> pa.Table:
        """One int8 column per labeler id, -1 = abstain (the on-disk label-matrix format)."""
        return pa.table(
            {lid: pa.array(self.matrix[:, j], pa.int8()) for j, lid in enumerate(self.labeler_ids)}
        )


def apply_labelers(
    labelers: Sequence[LabelerSpec],
    table: pa.Table,
    *,
    task: TaskSpec,
    runner: Runner | str | None = None,
    lower: bool = True,
    batch_size: int = 65536,
    progress: Callable[[int], None] | None = None,
) -> ApplyReport:
    """Run ``labelers`` over ``table['text']`` in a sandbox and return the label matrix."""
    active = [lf for lf in labelers if lf.enabled]
    run = runner if runner is not None and not isinstance(runner, str) else get_runner(runner)
    start = time.perf_counter()
    if not active:
        return ApplyReport(
            matrix=np.full((table.num_rows, 0), ABSTAIN, np.int8),
            labeler_ids=[],
            runner=run.name,
            rows=table.num_rows,
            seconds=0.0,
        )
    result: ApplyResult = run.apply(
        active,
        table["text"],
        cardinality=task.cardinality,
        batch_size=batch_size,
        lower=lower,
        progress=progress,
    )
    return ApplyReport(
        matrix=result.matrix,
        labeler_ids=list(result.labeler_ids),
        runner=result.runner,
        rows=table.num_rows,
        seconds=time.perf_counter() - start,
        lowered=list(result.lowered),
        faults={k: _fault_dict(v) for k, v in result.faults.items()},
    )


def _fault_dict(fault: Any) -> dict[str, Any]:
    if hasattr(fault, "to_dict"):
        return dict(fault.to_dict())
    return {
        "count": int(fault.count),
        "first_error": str(fault.first_error),
        "quarantined": bool(fault.quarantined),
    }

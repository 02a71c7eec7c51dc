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
from ..sandbox import ApplyResult, Policy, Runner, get_runner
from ..store.cache import ArtifactCache
from .matrix_cache import MatrixCache, fingerprint, policy_hash


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
    cache: ArtifactCache | None = None,
) -> ApplyReport:
    """Run ``labelers`` over ``table['text']`` in a sandbox and return the label matrix.

    With ``cache`` (the workspace's artifact cache) a column already computed for the
    same program text, data, cardinality and sandbox policy is read back instead of
    run: a repeated apply computes only what is new or changed (``cache_hits``).
    """
    active = [lf for lf in labelers if lf.enabled]
    run = runner if runner is not None and not isinstance(runner, str) else get_runner(runner)
    start = time.perf_counter()
    n = table.num_rows
    if not active:
        return ApplyReport(
            matrix=np.full((n, 0), ABSTAIN, np.int8),
            labeler_ids=[],
            runner=run.name,
            rows=n,
            seconds=0.0,
        )
    ids = [lf.id for lf in active]
    matrix = np.full((n, len(ids)), ABSTAIN, np.int8)
    faults: dict[str, dict[str, Any]] = {}
    mcache = fp = None
    todo = active
    if cache is not None:
        policy = getattr(run, "policy", None) or Policy.default()
        mcache = MatrixCache(cache, policy_hash(policy))
        fp = fingerprint(table["text"])
        todo = []
        for j, lf in enumerate(active):
            hit = mcache.get(lf, fp, task.cardinality, n)
            if hit is None:
                todo.append(lf)
                continue
            matrix[:, j] = hit.votes
            if hit.errors:
                faults[lf.id] = {"count": hit.errors, "first_error": hit.first_error, "quarantined": False}
    hits = len(active) - len(todo)
    lowered: list[str] = []
    runner_name = run.name
    if todo:
        result: ApplyResult = run.apply(
            todo,
            table["text"],
            cardinality=task.cardinality,
            batch_size=batch_size,
            lower=lower,
            progress=progress,
        )
        runner_name = result.runner
        lowered = list(result.lowered)
        col = {lid: j for j, lid in enumerate(ids)}
        for k, lid in enumerate(result.labeler_ids):
            matrix[:, col[lid]] = result.matrix[:, k]
        for lid, fault in result.faults.items():
            faults[lid] = _fault_dict(fault)
        if mcache is not None and fp is not None:
            for k, lf in enumerate(todo):
                got = result.faults.get(lf.id)
                if got is None or not got.quarantined:
                    mcache.put(lf, fp, task.cardinality, result.matrix[:, k], got)
    elif progress is not None and n:
        progress(n)
    return ApplyReport(
        matrix=matrix,
        labeler_ids=ids,
        runner=runner_name,
        rows=n,
        seconds=time.perf_counter() - start,
        lowered=lowered,
        faults=faults,
        cache_hits=hits,
    )


def _fault_dict(fault: Any) -> dict[str, Any]:
    if hasattr(fault, "to_dict"):
        return dict(fault.to_dict())
    return {
        "count": int(fault.count),
        "first_error": str(fault.first_error),
        "quarantined": bool(fault.quarantined),
    }

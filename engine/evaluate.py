"""Metrics, computed the way WRENCH computes them so our numbers compare with theirs.

WRENCH (Zhang et al., 2021) scores a label model on *every* test row, including rows
where every labeler abstained (their probabilities are uniform), and turns
probabilities into predictions with Snorkel's ``probs_to_preds`` default policy: a
row whose top probabilities tie (within ``1e-5``) takes the tied class at position
``sha1(str(row_index)) mod n_tied`` among the tied classes, in class order. That
policy is deterministic and depends only on the row's position, so it is reproduced
exactly here (``tie_break``). With it, majority vote on WRENCH's youtube test split
scores 0.840 accuracy; breaking ties toward the lowest class gives 0.776 instead.

F1 is binary F1 of the positive class when the task names one (sms: spam=1, as
WRENCH's ``f1_binary``), else macro F1 over the classes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..labelers import TaskSpec

#: Probabilities closer than this to the row maximum count as tied (Snorkel's tol).
TIE_TOLERANCE = 1e-5


def _row_hash(i: int) -> int:
    # Snorkel's deterministic hash: sha1 of the decimal row index.
    return int(hashlib.sha1(str(i).encode("utf-8")).hexdigest(), 16)


def tie_break(probs: np.ndarray, *, tol: float = TIE_TOLERANCE) -> np.ndarray:
    """Predictions from an ``(n, k)`` probability array with WRENCH's tie-break.

    Rows with one maximum take its class; tied rows take
    ``tied[sha1(str(i)) % len(tied)]`` (Snorkel's ``tie_break_policy="random"``).
    Vectorised: only the tied rows are hashed.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must be (n, k>=2), got shape {probs.shape}")
    near_max = np.abs(probs - probs.max(axis=1, keepdims=True)) < tol
    n_tied = near_max.sum(axis=1)
    preds = near_max.argmax(axis=1)
    for i in np.flatnonzero(n_tied > 1):
        tied = np.flatnonzero(near_max[i])
        preds[i] = tied[_row_hash(int(i)) % len(tied)]
    return preds.astype(np.int64)


def _f1(y_true: np.ndarray, y_pred: np.ndarray, positive: int) -> float:
    tp = float(np.sum((y_pred == positive) & (y_true == positive)))
    fp = float(np.sum((y_pred == positive) & (y_true != positive)))
    fn = float(np.sum((y_pred != positive) & (y_true == positive)))
    denom = 2 * tp + fp + fn
    # sklearn's convention: F1 is 0 when there is no positive prediction or label.
    return 0.0 if denom == 0 else 2 * tp / denom


def score(y_true: Any, y_pred: Any, *, task: TaskSpec) -> dict[str, float]:
    """``{"accuracy", "f1"}`` of hard predictions, WRENCH-style.

    ``f1`` is binary F1 on ``task.positive_class`` when set, else macro F1 over the
    task's classes that occur in ``y_true`` or ``y_pred`` (sklearn's macro average).
    """
    yt = np.asarray(y_true, dtype=np.int64).ravel()
    yp = np.asarray(y_pred, dtype=np.int64).ravel()
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.size} rows but y_pred has {yp.size}")
    if yt.size == 0:
        raise ValueError("cannot score an empty split")
    acc = float(np.mean(yt == yp))
    if task.positive_class is not None:
        f1 = _f1(yt, yp, task.positive_class)
    else:
        present = np.union1d(np.unique(yt), np.unique(yp))
        present = present[(present >= 0) & (present < task.cardinality)]
        f1 = float(np.mean([_f1(yt, yp, int(c)) for c in present])) if present.size else 0.0
    return {"accuracy": acc, "f1": f1}


def score_probs(y_true: Any, probs: np.ndarray, *, task: TaskSpec) -> dict[str, float]:
    """Score probabilistic labels: WRENCH tie-break, then ``score``."""
    return score(y_true, tie_break(probs), task=task)


def mean_std(runs: list[dict[str, float]]) -> dict[str, float]:
    """``{"accuracy_mean", "accuracy_std", "f1_mean", "f1_std"}`` over seeded runs.

    Population std (``ddof=0``), as WRENCH's ``AverageMeter`` reports it.
    """
    if not runs:
        raise ValueError("no runs to average")
    out: dict[str, float] = {}
    for key in ("accuracy", "f1"):
        vals = np.array([r[key] for r in runs], dtype=np.float64)
        out[f"{key}_mean"] = float(vals.mean())
        out[f"{key}_std"] = float(vals.std())
    return out

"""From a label matrix to training labels and a distilled end model, evaluated on test.

Protocol (as WRENCH does it): the label model is fitted on the train split's votes
(the valid split, when labelled, is the dev set: ``auto`` picks by it, never by test);
the end model is trained on the train rows that at least one labeler covers, with the
label model's soft labels; both are scored on the test split's gold labels, counting
rows where every labeler abstains (the label model's tie-break decides them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..labelers import ABSTAIN, DataError, TaskSpec

if TYPE_CHECKING:
    from ..store import ArtifactCache


@dataclass
class LabelReport:
    """The ``label`` command's result; ``to_dict`` gives the documented JSON keys."""

    label_model: str
    labelers: list[str]
    train_coverage: float
    label_model_test: dict[str, float] | None
    end_model: str
    end_model_test: dict[str, float] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_model": self.label_model,
            "label_model_test": self.label_model_test,
            "end_model": self.end_model,
            "end_model_test": self.end_model_test,
            "train_coverage": round(self.train_coverage, 4),
            "labelers": self.labelers,
            **self.extra,
        }


def split_mask(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table["split"].to_numpy(zero_copy_only=False) == name)


def dataset_votes(table: pa.Table) -> np.ndarray:
    """The dataset's own weak labels (WRENCH's human-written LFs) as an int8 matrix."""
    if "weak_labels" not in table.column_names:
        raise DataError("this dataset carries no weak_labels; use --ref to apply stored labelers")
    flat = table["weak_labels"].combine_chunks()
    m = len(flat[0]) if len(flat) else 0
    return np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.int8).reshape(-1, m)


def run_label(
    table: pa.Table,
    L: np.ndarray,
    labeler_ids: list[str],
    *,
    task: TaskSpec,
    label_model: str = "snorkel",
    end_model: str = "mlp",
    features: str = "minilm",
    seeds: int = 3,
    cache: ArtifactCache | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> LabelReport:
    """Aggregate ``L`` (rows aligned with ``table``) and distil; score on the test split."""
    from .aggregate import get_label_model
    from .evaluate import score

    say = log or (lambda _m: None)
    train = split_mask(table, "train")
    if not train.any():  # a single file: every row is training data
        train = ~split_mask(table, "test")
    test, valid = split_mask(table, "test"), split_mask(table, "valid")
    y = table["label"].to_numpy()
    has_dev = bool(valid.any() and (y[valid] != ABSTAIN).all())
    L_train = L[train]

    say(f"fitting label model {label_model} on {int(train.sum()):,} rows x {L.shape[1]} labelers")
    lm = get_label_model(label_model, task.cardinality, seed=0, device=device)
    if has_dev:
        lm.fit(L_train, L_dev=L[valid], Y_dev=y[valid])
    else:
        lm.fit(L_train)
    chosen = str(getattr(lm, "chosen", label_model))
    covered = (L_train != ABSTAIN).any(axis=1)
    lm_test = None
    scored_test = bool(test.any() and (y[test] != ABSTAIN).all())
    if scored_test:
        lm_test = score(y[test], lm.predict(L[test]), task=task)

    em_test = None
    if end_model != "none":
        from .distill import distill
        from .features import featurize

        if not covered.any():
            raise DataError("no training row is covered by any labeler: nothing to distil")
        say(f"computing {features} features for {table.num_rows:,} rows")
        X = featurize(table, kind=features, cache=cache)
        probs = lm.predict_proba(L_train[covered])
        X_train = X[train][covered]
        if scored_test:
            say(f"training {end_model} end model, {seeds} seeds")
            em_test = distill(X_train, probs, X[test], y[test], task=task, kind=end_model,
                              seeds=seeds, device=device)
    return LabelReport(
        label_model=chosen,
        labelers=labeler_ids,
        train_coverage=float(covered.mean()) if len(covered) else 0.0,
        label_model_test=lm_test,
        end_model=end_model,
        end_model_test=em_test,
    )

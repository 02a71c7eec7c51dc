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
from pathlib import Path
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
    select: bool = False,
    min_accuracy: float = 0.5,
    save_model: str | Path | None = None,
    epochs: int | None = None,
) -> LabelReport:
    """Aggregate ``L`` (rows aligned with ``table``) and distil; score on the test split.

    ``select`` drops labelers below ``min_accuracy`` on the dev split and near-duplicates
    first (engine.select). ``save_model`` writes the seed-0 end model, with its
    featurizer, to that folder for ``predict``.
    """
    from .aggregate import get_label_model
    from .evaluate import score

    say = log or (lambda _m: None)
    train = split_mask(table, "train")
    if not train.any():  # a single file: every row is training data
        train = ~split_mask(table, "test")
    test, valid = split_mask(table, "test"), split_mask(table, "valid")
    y = table["label"].to_numpy()
    has_dev = bool(valid.any() and (y[valid] != ABSTAIN).all())
    extra: dict[str, Any] = {}
    if select:
        from .select import select_labelers

        sel = select_labelers(L[train], L[valid] if has_dev else None,
                              y[valid] if has_dev else None, min_accuracy=min_accuracy)
        extra["selection"] = sel.to_dict(labeler_ids)
        say(f"labeler selection kept {len(sel.keep)} of {L.shape[1]}")
        L = L[:, sel.keep]
        labeler_ids = [labeler_ids[j] for j in sel.keep]
    L_train = L[train]

    say(f"fitting label model {label_model} on {int(train.sum()):,} rows x {L.shape[1]} labelers")
    # auto judges candidates by the task's own metric (F1 for sms), so it gets the task
    options: dict[str, Any] = {"task": task} if label_model == "auto" else {}
    lm = get_label_model(label_model, task.cardinality, seed=0, device=device, **options)
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
        from .distill import distill, train_end_model
        from .features import Featurizer

        if not covered.any():
            raise DataError("no training row is covered by any labeler: nothing to distil")
        say(f"computing {features} features for {table.num_rows:,} rows")
        # TF-IDF learns its vocabulary from the train rows only; MiniLM and vector
        # columns have nothing to fit.
        featurizer = Featurizer(features, device=device, cache=cache)
        X = featurizer.fit(table.filter(pa.array(train))).transform(table)
        probs = lm.predict_proba(L_train[covered])
        X_train = X[train][covered]
        if scored_test:
            say(f"training {end_model} end model, {seeds} seeds")
            em_test = distill(X_train, probs, X[test], y[test], task=task, kind=end_model,
                              seeds=seeds, device=device, epochs=epochs,
                              X_dev=X[valid] if has_dev else None,
                              y_dev=y[valid] if has_dev else None)
        if save_model is not None:
            model = train_end_model(X_train, probs, kind=end_model, seed=0, device=device,
                                    epochs=epochs, X_dev=X[valid] if has_dev else None,
                                    y_dev=y[valid] if has_dev else None)
            model.featurizer = featurizer.to_json()
            model.metadata.update(task=task.name, classes={str(c): n for c, n in task.classes.items()},
                                  label_model=chosen, labelers=labeler_ids)
            extra["model_dir"] = str(model.save(save_model))
            say(f"saved the {end_model} end model to {save_model}")
    return LabelReport(
        label_model=chosen,
        labelers=labeler_ids,
        train_coverage=float(covered.mean()) if len(covered) else 0.0,
        label_model_test=lm_test,
        end_model=end_model,
        end_model_test=em_test,
        extra=extra,
    )

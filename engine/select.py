"""Labeler selection, DataSculpt-style: keep the labelers worth aggregating.

Two filters, in order:

1. **accuracy** -- drop a labeler whose accuracy on the labeled dev rows it votes on is
   below ``min_accuracy``. A labeler with fewer than ``min_dev_votes`` dev votes is kept
   (too little evidence to judge it).
2. **near-duplicates** -- of two labelers whose outputs (abstain included) are the same
   on at least ``max_agreement`` of the train rows where either votes, keep the better
   one (higher dev accuracy, then higher coverage, then earlier) and drop the other: a
   copy adds no information but doubles its weight in every label model that assumes
   independence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..labelers import ABSTAIN, ModelError
from .analysis import lf_coverages, lf_empirical_accuracies


@dataclass
class Selection:
    """Which labelers survive, and why each dropped one was dropped."""

    keep: list[int]
    dropped: dict[int, str] = field(default_factory=dict)

    def to_dict(self, names: list[str] | None = None) -> dict[str, Any]:
        name = (lambda j: names[j]) if names is not None else (lambda j: j)
        return {
            "kept": [name(j) for j in self.keep],
            "dropped": {str(name(j)): why for j, why in sorted(self.dropped.items())},
        }


def select_labelers(
    L_train: Any,
    L_dev: Any = None,
    Y_dev: Any = None,
    *,
    min_accuracy: float = 0.5,
    max_agreement: float = 0.95,
    min_dev_votes: int = 5,
    min_overlap: int = 20,
) -> Selection:
    """Indices of the labelers to keep (in column order) and the reasons for the rest."""
    L = np.asarray(L_train)
    if L.ndim != 2:
        raise ModelError(f"L_train must be 2-D, got shape {L.shape}")
    m = L.shape[1]
    dropped: dict[int, str] = {}
    acc = np.full(m, np.nan)
    if L_dev is not None and Y_dev is not None:
        Ld = np.asarray(L_dev)
        acc = lf_empirical_accuracies(Ld, Y_dev)
        dev_votes = (Ld != ABSTAIN).sum(axis=0)
        for j in range(m):
            if dev_votes[j] >= min_dev_votes and acc[j] < min_accuracy:
                dropped[j] = f"dev accuracy {acc[j]:.3f} < {min_accuracy} on {dev_votes[j]} votes"
    cov = lf_coverages(L)
    alive = [j for j in range(m) if j not in dropped]
    # Rank best first so a duplicate is always resolved in favour of the better copy.
    rank = sorted(alive, key=lambda j: (-np.nan_to_num(acc[j], nan=-1.0), -cov[j], j))
    voted = L != ABSTAIN
    kept: list[int] = []
    for j in rank:
        for i in kept:
            # Agreement on the rows where *either* votes, abstain included: two keyword
            # rules voting the same class agree wherever both fire, yet are not copies.
            either = voted[:, i] | voted[:, j]
            n_either = int(either.sum())
            if n_either >= min_overlap:
                agree = float(np.mean(L[either, i] == L[either, j]))
                if agree >= max_agreement:
                    dropped[j] = f"duplicates labeler {i} (same output on {agree:.3f} of {n_either} rows)"
                    break
        else:
            kept.append(j)
    if not kept:
        raise ModelError(
            f"labeler selection dropped every labeler (min accuracy {min_accuracy}): "
            "lower --min-accuracy or synthesize better labelers"
        )
    return Selection(keep=sorted(kept), dropped=dropped)

"""Labeler analysis (checked against snorkel's LFAnalysis) and DataSculpt-style selection."""

from __future__ import annotations

import numpy as np
import pytest
from alchemist_engine.engine.analysis import (
    label_coverage,
    lf_conflicts,
    lf_coverages,
    lf_empirical_accuracies,
    lf_overlaps,
    lf_polarities,
    lf_summary,
)
from alchemist_engine.engine.select import select_labelers
from alchemist_engine.labelers import ModelError


def random_votes(n: int, m: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    L = np.where(rng.random((n, m)) < 0.7, y[:, None], rng.integers(0, k, (n, m)))
    L = np.where(rng.random((n, m)) < 0.4, L, -1)
    L[:, 0] = np.where(L[:, 0] >= 0, 1, -1)  # a unipolar labeler
    return L, y


@pytest.mark.parametrize("k", [2, 3])
def test_statistics_match_snorkel_lfanalysis(k: int) -> None:
    from snorkel.labeling import LFAnalysis

    L, y = random_votes(400, 6, k, seed=k)
    ref = LFAnalysis(L)
    np.testing.assert_allclose(lf_coverages(L), ref.lf_coverages())
    np.testing.assert_allclose(lf_overlaps(L), ref.lf_overlaps())
    np.testing.assert_allclose(lf_conflicts(L, k), ref.lf_conflicts())
    assert lf_polarities(L) == [list(p) for p in ref.lf_polarities()]
    np.testing.assert_allclose(lf_empirical_accuracies(L, y), ref.lf_empirical_accuracies(y))
    assert label_coverage(L) == pytest.approx(ref.label_coverage())


def test_summary_rows() -> None:
    L = np.array([[0, -1, 1], [0, 0, -1], [-1, -1, -1], [1, 1, 1]])
    y = np.array([0, 0, 1, 0])
    rows = lf_summary(L, y, names=["a", "b", "c"])
    assert rows[0] == {
        "name": "a", "polarity": [0, 1], "coverage": 0.75, "overlaps": 0.75, "conflicts": 0.25,
        "correct": 2, "incorrect": 1, "emp_acc": pytest.approx(2 / 3),
    }
    assert rows[2]["polarity"] == [1] and rows[2]["emp_acc"] == 0.0
    assert "emp_acc" not in lf_summary(L)[0]
    with pytest.raises(ModelError):
        lf_summary(L, names=["a"])


def test_selection_drops_inaccurate_and_duplicate_labelers() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    good = np.where(rng.random(n) < 0.85, y, 1 - y)
    bad = np.where(rng.random(n) < 0.3, y, 1 - y)  # worse than chance
    other = np.where(rng.random(n) < 0.75, y, 1 - y)
    copy = good.copy()
    copy[:10] = 1 - copy[:10]  # a near-duplicate of `good`, agreeing on 99.5%
    L = np.stack([good, bad, other, copy], axis=1)
    sel = select_labelers(L[:1500], L[1500:], y[1500:])
    assert sel.keep == [0, 2]
    assert "dev accuracy" in sel.dropped[1]
    assert "duplicates labeler 0" in sel.dropped[3]
    assert sel.to_dict(["g", "b", "o", "c"])["kept"] == ["g", "o"]
    # without dev labels only duplicates go
    assert select_labelers(L).keep == [0, 1, 2]
    # two unipolar keyword rules agree wherever both fire, but are not duplicates
    kw1 = np.where(rng.random(n) < 0.2, 1, -1)
    kw2 = np.where(rng.random(n) < 0.2, 1, -1)
    assert select_labelers(np.stack([kw1, kw2], axis=1)).keep == [0, 1]
    with pytest.raises(ModelError, match="dropped every labeler"):
        select_labelers(L, L, y, min_accuracy=0.99)

"""Label models on the real WRENCH youtube/sms votes and on synthetic data with known truth."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from alchemist_engine.engine.aggregate import (
    LABEL_MODELS,
    cooccurrence,
    get_label_model,
    vote_counts,
)
from alchemist_engine.engine.evaluate import score_probs, tie_break
from alchemist_engine.labelers import ModelError, TaskSpec, get_task
from hypothesis import given, settings
from hypothesis import strategies as st

# The shared WRENCH copies live beside the checkout (../shared/datasets) unless told otherwise.
DATASETS = Path(
    os.environ.get(
        "ALCHEMIST_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
)
needs_data = pytest.mark.skipif(not (DATASETS / "youtube").exists(), reason="shared datasets absent")


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = json.loads((DATASETS / name / f"{split}.json").read_text())
    L = np.array([r["weak_labels"] for r in rows.values()], dtype=np.int8)
    y = np.array([r["label"] for r in rows.values()], dtype=np.int64)
    return L, y


def synthetic(n: int, m: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-coin votes: labeler j fires with prob 0.5 and is right with prob acc[j]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    acc = rng.uniform(0.55, 0.95, m)
    right = rng.random((n, m)) < acc
    wrong = (y[:, None] + rng.integers(1, k, (n, m))) % k
    L = np.where(right, y[:, None], wrong)
    L = np.where(rng.random((n, m)) < 0.5, L, -1).astype(np.int8)
    return L, y, acc


def task_k(k: int) -> TaskSpec:
    return TaskSpec(name="t", classes={c: str(c) for c in range(k)}, mission="m")


@needs_data
def test_majority_vote_reproduces_wrench_youtube_and_sms() -> None:
    L, y = load_split("youtube", "test")
    probs = get_label_model("mv", 2).fit(L).predict_proba(L)
    assert score_probs(y, probs, task=get_task("youtube"))["accuracy"] == pytest.approx(0.840)
    L, y = load_split("sms", "test")
    probs = get_label_model("mv", 2).fit(L).predict_proba(L)
    # WRENCH reports MV on sms as F1 23.97 (binary, spam = 1)
    assert score_probs(y, probs, task=get_task("sms"))["f1"] == pytest.approx(0.2397, abs=1e-4)


@needs_data
def test_dawid_skene_reproduces_wrench_sms_f1() -> None:
    Lt, _ = load_split("sms", "train")
    L, y = load_split("sms", "test")
    probs = get_label_model("ds", 2).fit(Lt).predict_proba(L)
    # WRENCH's DS on sms: F1 4.94
    assert score_probs(y, probs, task=get_task("sms"))["f1"] == pytest.approx(0.0494, abs=1e-3)


@needs_data
@pytest.mark.parametrize("dataset", ["youtube", "sms"])
def test_our_snorkel_matches_the_snorkel_package(dataset: str) -> None:
    from snorkel.labeling.model import LabelModel

    Lt, _ = load_split(dataset, "train")
    L, _ = load_split(dataset, "test")
    # 200 epochs keep the package's fit short; the objective and optimiser are the same
    ours = get_label_model("snorkel", 2, seed=3, n_epochs=200).fit(Lt).predict_proba(L)
    ref = LabelModel(cardinality=2, verbose=False)
    ref.fit(Lt.astype(np.int64), n_epochs=200, lr=0.01, seed=3, progress_bar=False)
    theirs = ref.predict_proba(L.astype(np.int64))
    # Snorkel trains in float32, we in float64: probabilities agree to float32 noise.
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
    assert np.mean(tie_break(ours) == tie_break(theirs)) >= 0.99


@pytest.mark.parametrize("name", ["mv", "wmv", "ds", "snorkel", "fs"])
@pytest.mark.parametrize("k", [2, 4])
def test_models_recover_truth_on_one_coin_data(name: str, k: int) -> None:
    L, y, _ = synthetic(3000, 8, k, seed=k)
    model = get_label_model(name, k).fit(L)
    probs = model.predict_proba(L)
    assert probs.shape == (3000, k)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    covered = (L != -1).any(axis=1)
    acc = np.mean(model.predict(L)[covered] == y[covered])
    mv_acc = np.mean(get_label_model("mv", k).fit(L).predict(L)[covered] == y[covered])
    assert acc > 0.75
    assert acc >= mv_acc - 0.02  # no model is much worse than voting on easy data


def test_weighted_models_beat_majority_vote_when_accuracies_differ() -> None:
    rng = np.random.default_rng(0)
    n, k = 4000, 2
    y = rng.integers(0, k, n)
    acc = np.array([0.95, 0.6, 0.6, 0.6, 0.6])  # one expert outvoted by four weak labelers
    L = np.where(rng.random((n, 5)) < acc, y[:, None], 1 - y[:, None]).astype(np.int8)
    mv = np.mean(get_label_model("mv", k).fit(L).predict(L) == y)
    for name in ("wmv", "ds", "snorkel", "fs"):
        assert np.mean(get_label_model(name, k).fit(L).predict(L) == y) > mv + 0.05, name


def test_fs_estimates_accuracies() -> None:
    L, _, acc = synthetic(20000, 6, 3, seed=1)
    est = np.array(get_label_model("fs", 3).fit(L).params()["accuracies"])
    np.testing.assert_allclose(est, acc, atol=0.05)


def test_wmv_learns_weights_from_dev_labels() -> None:
    L, y, acc = synthetic(5000, 5, 2, seed=2)
    model = get_label_model("wmv", 2).fit(L[:4000], L_dev=L[4000:], Y_dev=y[4000:])
    est = np.array(model.params()["accuracies"])
    np.testing.assert_allclose(est, acc, atol=0.06)


def test_auto_picks_by_dev_accuracy_and_needs_dev() -> None:
    L, y, _ = synthetic(3000, 6, 2, seed=5)
    with pytest.raises(ModelError, match="dev"):
        get_label_model("auto", 2).fit(L)
    model = get_label_model("auto", 2).fit(L[:2500], L_dev=L[2500:], Y_dev=y[2500:])
    params = model.params()
    scores = params["dev_scores"]
    assert params["dev_metric"] == "accuracy"
    assert set(scores) == {"mv", "wmv", "ds", "snorkel", "fs"}
    assert scores[params["chosen"]] == max(scores.values())


def test_all_abstain_rows_are_uniform_and_ties_deterministic() -> None:
    L = np.array([[-1, -1, -1], [0, 1, -1], [1, 1, 0]], dtype=np.int8)
    probs = get_label_model("mv", 2).fit(L).predict_proba(L)
    np.testing.assert_allclose(probs[0], [0.5, 0.5])
    np.testing.assert_allclose(probs[2], [1 / 3, 2 / 3])
    # Snorkel's rule: tied row i takes tied[sha1(str(i)) % n_tied]
    from snorkel.utils import probs_to_preds

    np.testing.assert_array_equal(tie_break(probs), probs_to_preds(probs))


def test_bad_inputs_are_model_errors() -> None:
    with pytest.raises(ModelError, match="unknown label model"):
        get_label_model("nope", 2)
    with pytest.raises(ModelError, match="votes must be"):
        get_label_model("mv", 2).fit(np.array([[0, 2, -1]]))
    with pytest.raises(ModelError, match="2-D"):
        get_label_model("mv", 2).fit(np.array([0, 1]))
    with pytest.raises(ModelError, match="not fitted"):
        get_label_model("ds", 2).predict_proba(np.zeros((2, 3), dtype=np.int8))
    with pytest.raises(ModelError, match="at least 3 labelers"):
        get_label_model("snorkel", 2).fit(np.zeros((5, 2), dtype=np.int8))
    model = get_label_model("mv", 2).fit(np.zeros((5, 3), dtype=np.int8))
    with pytest.raises(ModelError, match="fitted on 3 labelers"):
        model.predict_proba(np.zeros((5, 4), dtype=np.int8))


def test_cooccurrence_and_counts_match_dense_formulas() -> None:
    L, _, _ = synthetic(500, 4, 3, seed=9)
    A = (L[:, :, None] == np.arange(3)).reshape(500, 12).astype(float)
    np.testing.assert_array_equal(cooccurrence(L, 3), A.T @ A)
    np.testing.assert_array_equal(vote_counts(L, 3), A.reshape(500, 4, 3).sum(axis=1))


def test_registry_lists_every_model() -> None:
    assert {"mv", "wmv", "ds", "snorkel", "snorkel-lib", "fs", "auto"} <= set(LABEL_MODELS)
    assert score_probs([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]), task=task_k(2))["accuracy"] == 1


@needs_data
def test_auto_judges_by_the_task_metric() -> None:
    Lt, _ = load_split("sms", "train")
    Lv, yv = load_split("sms", "valid")
    by_f1 = get_label_model("auto", 2, task=get_task("sms")).fit(Lt, L_dev=Lv, Y_dev=yv)
    by_acc = get_label_model("auto", 2).fit(Lt, L_dev=Lv, Y_dev=yv)
    assert by_f1.params()["dev_metric"] == "f1"
    f1s, accs = by_f1.params()["dev_scores"], by_acc.params()["dev_scores"]
    assert by_f1.params()["chosen"] == max(f1s, key=lambda k: f1s[k])
    assert by_acc.params()["chosen"] == max(accs, key=lambda k: accs[k])
    # on sms, accuracy rewards predicting ham everywhere; F1 on spam does not
    assert by_f1.params()["chosen"] != by_acc.params()["chosen"]


@given(
    st.integers(2, 4).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.lists(st.integers(-1, k - 1), min_size=3, max_size=3), min_size=1,
                     max_size=40),
        )
    )
)
@settings(max_examples=60, deadline=None)
def test_mv_and_tie_break_match_wrench_and_snorkel(case: tuple[int, list[list[int]]]) -> None:
    from snorkel.utils import probs_to_preds

    k, rows = case
    L = np.array(rows, dtype=np.int8)
    probs = get_label_model("mv", k).fit(L).predict_proba(L)
    # WRENCH's MajorityVoting, written out: counts, all-abstain rows uniform, normalised
    counts = np.array([[sum(v == c for v in row) for c in range(k)] for row in rows], float)
    counts[counts.sum(axis=1) == 0] = 1
    np.testing.assert_allclose(probs, counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(tie_break(probs), probs_to_preds(probs))
    A = (L[:, :, None] == np.arange(k)).reshape(len(L), 3 * k).astype(float)
    np.testing.assert_array_equal(cooccurrence(L, k), A.T @ A)

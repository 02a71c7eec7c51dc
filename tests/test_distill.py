"""End models, features and their persistence: real torch, real sentence-transformers, real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from alchemist_engine.engine.distill import EndModel, distill, train_end_model
from alchemist_engine.engine.features import Featurizer, embed_texts, featurize, texts_digest
from alchemist_engine.labelers import DataError, ModelError, TaskSpec
from alchemist_engine.store import ArtifactCache

TASK = TaskSpec(name="t", classes={0: "a", 1: "b"}, mission="m", positive_class=1)


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 8-D, separable but not trivially."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 8)).astype(np.float32) + (2 * y[:, None] - 1) * 1.2
    return X, y


def soft(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Soft labels with ``noise`` of the rows flipped, confidence 0.8."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < noise
    yy = np.where(flip, 1 - y, y)
    P = np.full((len(y), 2), 0.2)
    P[np.arange(len(y)), yy] = 0.8
    return P


@pytest.mark.parametrize("kind", ["mlp", "lr"])
def test_end_model_learns_from_noisy_soft_labels(kind: str) -> None:
    X, y = blobs(1200, 0)
    Xt, yt = blobs(400, 1)
    model = train_end_model(X, soft(y, 0.2, 0), kind=kind, seed=0, device="cpu", epochs=30)
    assert np.mean(model.predict(Xt) == yt) > 0.9  # beats its 80%-correct teacher


def test_seeds_are_deterministic_and_distill_reports_mean_std() -> None:
    X, y = blobs(300, 2)
    P = soft(y, 0.1, 1)
    a = train_end_model(X, P, seed=4, device="cpu", epochs=5).predict_proba(X)
    b = train_end_model(X, P, seed=4, device="cpu", epochs=5).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    Xt, yt = blobs(200, 3)
    out = distill(X, P, Xt, yt, task=TASK, kind="mlp", seeds=3, device="cpu", epochs=10)
    assert set(out) >= {"accuracy_mean", "accuracy_std", "f1_mean", "f1_std", "runs"}
    assert len(out["runs"]) == 3
    accs = [r["accuracy"] for r in out["runs"]]
    assert out["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert out["accuracy_std"] == pytest.approx(np.std(accs))


def test_dev_split_selects_the_best_epoch() -> None:
    X, y = blobs(400, 5)
    Xd, yd = blobs(200, 6)
    model = train_end_model(X, soft(y, 0.3, 2), seed=0, device="cpu", epochs=20, X_dev=Xd, y_dev=yd)
    assert model.metadata["dev_accuracy"] == pytest.approx(np.mean(model.predict(Xd) == yd))


def test_save_and_load_without_pickle(tmp_path: Path) -> None:
    X, y = blobs(200, 7)
    model = train_end_model(X, soft(y, 0.0, 0), seed=1, device="cpu", epochs=3)
    model.featurizer = {"kind": "column:v", "dim": 8, "vocabulary": None, "idf": None}
    d = model.save(tmp_path / "m")
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors"]
    assert b"pickle" not in (d / "model.safetensors").read_bytes()[:200]
    loaded = EndModel.load(d, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert loaded.featurizer == model.featurizer
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["kind"] == "mlp" and cfg["hidden"] == [32, 32]


def test_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a saved end model"):
        EndModel.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"schema_version": 1, "kind": "mlp",
                                                       "in_dim": 4, "n_classes": 2}))
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load"):
        EndModel.load(tmp_path, device="cpu")


def test_bad_end_model_inputs() -> None:
    with pytest.raises(ModelError, match="unknown end model"):
        train_end_model(np.zeros((3, 2)), np.full((3, 2), 0.5), kind="svm")
    with pytest.raises(ModelError, match="no training rows"):
        train_end_model(np.zeros((0, 2)), np.zeros((0, 2)), device="cpu")
    model = train_end_model(np.zeros((4, 2)), np.full((4, 2), 0.5), device="cpu", epochs=1)
    with pytest.raises(ModelError, match="takes 2 features"):
        model.predict_proba(np.zeros((2, 3)))


def table(texts: list[str], **cols: list) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, **cols})


def test_tfidf_featurizer_round_trips_through_json() -> None:
    train = table(["free money now", "call me later", "win free prize", "see you at lunch"])
    f = Featurizer("tfidf").fit(train)
    X = f.transform(train)
    assert X.shape[0] == 4 and X.dtype == np.float32
    g = Featurizer.from_json(json.loads(json.dumps(f.to_json())))
    new = table(["free lunch prize", "unknown words only"])
    np.testing.assert_allclose(g.transform(new), f.transform(new))
    assert not g.transform(new)[1].any()  # out-of-vocabulary text has no features


def test_column_features() -> None:
    t = table(["a", "b"], clip=[[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(featurize(t, "column:clip"), [[1, 2], [3, 4]])
    with pytest.raises(DataError, match="no column 'nope'"):
        featurize(t, "column:nope")
    with pytest.raises(DataError, match="same length"):
        featurize(table(["a", "b"], v=[[1.0], [1.0, 2.0]]), "column:v")
    with pytest.raises(ModelError, match="unknown features"):
        featurize(t, "bert")


def test_minilm_embeddings_are_cached_by_content(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    texts = ["a dog barks loudly", "the puppy is barking", "stock prices fell sharply"]
    emb = embed_texts(texts, cache=cache, device="cpu")
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # real sentence embeddings: the two dog sentences are closer than dog and stocks
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.2
    digest = cache.get_ref(f"features/{texts_digest(texts)}")
    assert digest is not None
    # A cached copy is served without the model: poison the model loader to prove it.
    import alchemist_engine.engine.features as features

    saved, features._MODEL = features._MODEL, object()
    try:
        np.testing.assert_array_equal(embed_texts(texts, cache=cache), emb)
    finally:
        features._MODEL = saved
    assert texts_digest(["ab", "c"]) != texts_digest(["a", "bc"])

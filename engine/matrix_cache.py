"""Label-matrix cache: one labeler's votes on one dataset, computed once.

A column of ``L`` depends only on the program text, the text column, the number of
classes and the sandbox's rules, so it is keyed by exactly those: the labeler's content
hash, the dataset fingerprint (a hash of the text column's Arrow buffers), the
cardinality and a hash of the sandbox policy. Columns live in the workspace's
content-addressed :class:`~alchemist_engine.store.cache.ArtifactCache` as small Arrow
IPC streams (int8 votes; the fault summary in the schema metadata), behind a named
reference; its writes are atomic renames, so concurrent applies agree and an interrupted
one leaves nothing half-written.

Quarantined columns are not cached: a kill or timeout can depend on machine load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from ..labelers import LabelerSpec
from ..store.cache import ArtifactCache

#: Bump when the meaning of a cached column changes (worker semantics, format).
FORMAT = 1
_SCHEMA = pa.schema([pa.field("label", pa.int8(), nullable=False)])


def fingerprint(column: pa.Array | pa.ChunkedArray) -> str:
    """sha256 of a text column's content as Arrow holds it: validity, offsets, bytes.

    Offsets are rebased and the column made contiguous first, so the same strings give
    the same fingerprint however they were sliced or chunked.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_string(column.type):
        column = column.cast(pa.large_string())
    if not pa.types.is_large_string(column.type):
        raise TypeError(f"the text column must hold strings, not {column.type}")
    n = len(column)
    h = hashlib.sha256(f"large_string:{n}:".encode())
    bufs = column.buffers()
    offsets = np.frombuffer(bufs[1], np.int64)[column.offset : column.offset + n + 1]
    lo, hi = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    if column.null_count:
        h.update(np.asarray(column.is_null()).tobytes())
    h.update((offsets - lo).tobytes())
    if bufs[2] is not None:
        h.update(memoryview(bufs[2])[lo:hi])
    return h.hexdigest()


@dataclass
class CachedColumn:
    votes: np.ndarray
    errors: int
    first_error: str


class MatrixCache:
    """Columns of ``L`` by (labeler content hash, dataset fingerprint, k, policy)."""

    def __init__(self, store: ArtifactCache, policy_hash: str = "") -> None:
        self.store = store
        self.policy_hash = policy_hash

    def key(self, labeler: LabelerSpec, fp: str, cardinality: int) -> str:
        return f"L/v{FORMAT}/{labeler.content_hash}/{fp}/k{cardinality}/p{self.policy_hash}"

    def get(self, labeler: LabelerSpec, fp: str, cardinality: int, rows: int) -> CachedColumn | None:
        digest = self.store.get_ref(self.key(labeler, fp, cardinality))
        if digest is None:
            return None
        try:
            table = pa.ipc.open_stream(pa.py_buffer(self.store.get(digest))).read_all()
        except (KeyError, pa.ArrowInvalid, OSError):
            return None  # gone or damaged: recompute
        if not table.schema.equals(_SCHEMA) or table.num_rows != rows:
            return None
        meta = json.loads((table.schema.metadata or {}).get(b"faults", b"{}"))
        votes = table.column(0).to_numpy()
        return CachedColumn(votes, int(meta.get("errors", 0)), str(meta.get("first_error", "")))

    def put(self, labeler: LabelerSpec, fp: str, cardinality: int, votes: np.ndarray, fault: Any) -> None:
        errors = int(getattr(fault, "count", 0)) if fault is not None else 0
        first = str(getattr(fault, "first_error", "")) if fault is not None else ""
        meta = {b"faults": json.dumps({"errors": errors, "first_error": first}).encode()}
        arr = pa.Array.from_buffers(pa.int8(), len(votes), [None, pa.py_buffer(np.ascontiguousarray(votes, np.int8))])
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, _SCHEMA.with_metadata(meta)) as w:
            w.write_batch(pa.RecordBatch.from_arrays([arr], schema=_SCHEMA.with_metadata(meta)))
        digest = self.store.put(sink.getvalue().to_pybytes())
        self.store.set_ref(self.key(labeler, fp, cardinality), digest)


def policy_hash(policy: Any) -> str:
    """Short hash of the sandbox policy's rules (what programs may use changes results)."""
    doc = policy.to_dict() if hasattr(policy, "to_dict") else policy
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

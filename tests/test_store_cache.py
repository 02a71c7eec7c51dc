"""ArtifactCache: content-addressed bytes and named references."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from alchemist_engine.labelers import RegistryError
from alchemist_engine.store import ArtifactCache


def test_put_get_has_path(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    data = b"\x00\x01 label matrix bytes" * 100
    digest = cache.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert cache.has(digest) and cache.get(digest) == data
    assert cache.path(digest) == tmp_path / "cache" / "objects" / digest[:2] / digest[2:]
    assert cache.put(data) == digest, "idempotent"
    assert list(cache.digests()) == [digest]
    assert not list(cache.path(digest).parent.glob(".tmp-*")), "no temporaries left behind"


def test_missing_and_damaged_entries_are_misses(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    missing = "0" * 64
    assert not cache.has(missing)
    with pytest.raises(KeyError):
        cache.get(missing)
    digest = cache.put(b"abc")
    cache.path(digest).write_bytes(b"abd")  # bit rot
    with pytest.raises(KeyError):
        cache.get(digest)
    assert not cache.has(digest), "a damaged entry is dropped so it gets recomputed"


def test_bad_digest_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="sha256"):
        ArtifactCache(tmp_path).path("../../etc/passwd")


def test_refs(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    d1, d2 = cache.put(b"one"), cache.put(b"two")
    key = "L/3f9a2c.../youtube-test-fingerprint"
    assert cache.get_ref(key) is None
    cache.set_ref(key, d1)
    assert cache.get_ref(key) == d1
    cache.set_ref(key, d2)
    assert cache.get_ref(key) == d2
    assert cache.get_ref(key + "x") is None
    cache.delete(d2)
    assert cache.get_ref(key) is None, "a ref to a vanished object is a miss"
    cache.set_ref("k", d1)
    cache.delete_ref("k")
    assert cache.get_ref("k") is None

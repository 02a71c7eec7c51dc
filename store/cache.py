"""Content-addressed artifact cache: label matrices, features and models live here, not in git.

Layout under ``root``::

    objects/ab/cdef...   the bytes whose sha256 is abcdef...
    refs/<sha256(key)>   JSON {"key": ..., "digest": ...}: a named pointer to an object

Every write goes to a temporary file in the same directory and is renamed into place,
so readers see either nothing or the complete bytes, and concurrent writers of the same
content agree (same name, same bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..labelers import RegistryError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ArtifactCache:
    """Bytes by sha256 digest, plus a small map of named references to digests."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._refs = self.root / "refs"

    # -- objects -----------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 hex digest (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            _atomic_write(target, data)
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``.

        Raises KeyError when absent. An entry whose bytes no longer match their digest
        (disk damage, a hand edit) is deleted and reported as absent, so callers simply
        recompute it.
        """
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise KeyError(digest) from None
        if hashlib.sha256(data).hexdigest() != digest:
            target.unlink(missing_ok=True)
            raise KeyError(digest)
        return data

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def path(self, digest: str) -> Path:
        """Where the object ``digest`` lives (whether or not it exists yet)."""
        if not _DIGEST.match(digest):
            raise RegistryError(
                f"{digest!r} is not a sha256 hex digest (64 lowercase hex characters)"
            )
        return self._objects / digest[:2] / digest[2:]

    def digests(self) -> Iterator[str]:
        """Every stored digest (for gc and stats)."""
        if not self._objects.is_dir():
            return
        for sub in sorted(self._objects.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith("."):
                        yield sub.name + f.name

    def delete(self, digest: str) -> bool:
        target = self.path(digest)
        existed = target.exists()
        target.unlink(missing_ok=True)
        return existed

    # -- named references --------------------------------------------------------------

    def set_ref(self, key: str, digest: str) -> None:
        """Point ``key`` (any string, e.g. "L/<labeler hash>/<dataset fingerprint>") at ``digest``."""
        self.path(digest)  # validates the digest
        body = json.dumps({"key": key, "digest": digest}, sort_keys=True).encode()
        _atomic_write(self._ref_path(key), body)

    def get_ref(self, key: str) -> str | None:
        """The digest ``key`` points at, or None if unset or its object is gone."""
        try:
            doc = json.loads(self._ref_path(key).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        digest = doc.get("digest") if isinstance(doc, dict) else None
        if not isinstance(digest, str) or doc.get("key") != key or not self.has(digest):
            return None
        return digest

    def delete_ref(self, key: str) -> None:
        self._ref_path(key).unlink(missing_ok=True)

    def _ref_path(self, key: str) -> Path:
        # Hashing the key gives a safe file name for any string; the key itself is kept
        # in the file so a lookup can confirm it.
        return self._refs / hashlib.sha256(key.encode("utf-8")).hexdigest()


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

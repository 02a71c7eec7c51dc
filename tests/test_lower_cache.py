"""The host-compiled kernel cache: built once, trusted only when private, loaded by path."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alchemist_engine.labelers import SandboxError
from alchemist_engine.sandbox.lower_cache import LOWER_PY, cache_root, kernel_cache


def test_cache_root_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("ALCHEMIST_KERNEL_CACHE", str(shared))
    with pytest.raises(SandboxError, match="writable by others"):
        cache_root()
    monkeypatch.setenv("ALCHEMIST_KERNEL_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*.nb*")}


@pytest.mark.slow
def test_kernels_load_from_the_seed_at_another_path(tmp_path: Path) -> None:
    # The default root: built once per machine and kernel source, shared with the runners.
    built = kernel_cache()
    assert (built / "READY").is_file() and kernel_cache() == built
    assert any(built.rglob("*.nbi"))
    # The sandbox sees lower.py elsewhere (/sbx); a bind mount keeps mtime and size.
    elsewhere = tmp_path / "sbx"
    elsewhere.mkdir()
    shutil.copy2(LOWER_PY, elsewhere / "lower.py")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lower; "
        "print(lower.seed_cache(sys.argv[2])); lower.warm_up()"
    )
    env = {"NUMBA_CACHE_DIR": str(scratch), "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-I", "-c", code, str(elsewhere), str(built)],
                         env=env, capture_output=True, text=True, timeout=600, check=True)
    assert int(out.stdout.split()[0]) > 0
    seeded = _digests(scratch)
    assert seeded and seeded == {k: v for k, v in _digests(built).items() if k in seeded}

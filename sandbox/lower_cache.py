"""Host side of the lowering kernels: compile them once per machine, share read-only.

numba compiles the kernels of :mod:`.lower` in ~5-15 s, and a sandbox can keep nothing:
its root is read-only and its /tmp dies with it. So the host compiles them once, in a
child process running only our own code, into a per-user cache directory keyed by the
kernel source, numba, Python and CPU; runners mount that directory read-only and the
worker copies it into its tmpfs (``lower.seed_cache``) before loading the kernels.
Building is atomic (a temporary directory renamed into place), so concurrent applies
and interrupted builds never leave a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..labelers import SandboxError

LOWER_PY = Path(__file__).resolve().parent / "lower.py"
#: Where docker and bwrap sandboxes see cache_root() (read-only).
KERNEL_MOUNT = "/kc"

_BUILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("lower", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["lower"] = mod
spec.loader.exec_module(mod)
seconds = mod.warm_up()
import os
assert mod._CACHE, "NUMBA_CACHE_DIR is not writable"
mod.save_unicode_tables(os.environ["NUMBA_CACHE_DIR"])
print(round(seconds, 3))
"""


def cache_root() -> Path:
    """Where compiled kernels live: readable by sandbox UIDs, writable by us only.

    Under the temp dir rather than ~/.cache because a sandbox with a fresh UID (bwrap,
    subprocess) cannot traverse a private home. ALCHEMIST_KERNEL_CACHE overrides it.
    """
    override = os.environ.get("ALCHEMIST_KERNEL_CACHE")
    root = Path(override) if override else Path(tempfile.gettempdir()) / f"alchemist-engine-kernels-{os.getuid()}"
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    st = root.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise SandboxError(
            f"{root} is not owned by you or is writable by others, so its kernels cannot be "
            "trusted; remove it or set ALCHEMIST_KERNEL_CACHE to a private directory"
        )
    return root


def cache_key() -> str:
    from importlib.metadata import version

    h = hashlib.sha256(LOWER_PY.read_bytes())
    h.update(f"{version('numba')}|{sys.version}|{platform.machine()}|{platform.processor()}".encode())
    return h.hexdigest()[:20]


def kernel_cache(root: Path | None = None, *, timeout: float = 600.0) -> Path:
    """The directory holding this machine's compiled kernels, built on first use."""
    root = root or cache_root()
    final = root / cache_key()
    if (final / "READY").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        env = {"NUMBA_CACHE_DIR": str(tmp), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _BUILD, str(LOWER_PY)],
            env=env, capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise SandboxError(
                "compiling the lowering kernels failed: " + " | ".join(tail)
                + "; run the apply with --no-lower to interpret every labeler"
            )
        (tmp / "READY").write_text(proc.stdout.strip() + "\n")
        # Sandboxes run as other users: everything must be readable by all.
        for dirpath, _dirs, files in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "READY").is_file():  # lost a race to a broken build: retry
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"compiling the lowering kernels took over {timeout:.0f} s") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def build_seconds(path: Path) -> float | None:
    """How long the build of ``path`` took to compile (recorded in READY)."""
    try:
        return float((path / "READY").read_text().strip())
    except (OSError, ValueError):
        return None

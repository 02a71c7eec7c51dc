"""Where the sandbox's Python comes from: interpreter, the few packages, the worker files.

Sandboxes see none of the host's site-packages: only pyarrow (and numpy, which it
imports), RestrictedPython, and two trusted files (``worker.py``, ``protocol.py``) are
mounted read-only. bwrap and the subprocess runner drop to a fresh UID, which must be
able to read all of that, so the interpreter is the first candidate every user can
reach (a pyenv build under a private ``/root`` is not; ``/usr/bin/python3.X`` is).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ..labelers import SandboxError

WORKER_FILES = ("worker.py", "protocol.py")
#: Trusted modules the worker may load by path when present (sandbox/lower.py: kernels).
OPTIONAL_WORKER_FILES = ("lower.py",)
SANDBOX_PACKAGES = ("pyarrow", "numpy", "RestrictedPython")
#: Mounted when installed, for the lowering kernels; never required.
OPTIONAL_PACKAGES = ("numba", "llvmlite")


@dataclass(frozen=True)
class Runtime:
    python: str
    """Interpreter path, valid inside the sandbox as well (mounted at the same path)."""
    prefix: str
    """Installation prefix of that interpreter (its stdlib lives under it)."""
    packages: dict[str, str]
    """Mount name -> host directory, for pyarrow, numpy (+ its .libs) and RestrictedPython."""
    worker_dir: str
    world_readable: bool
    """True when a fresh, unprivileged UID can read every path above."""
    files: tuple[str, ...] = WORKER_FILES
    """Trusted files mounted into the worker directory (/sbx)."""

    @property
    def site_dirs(self) -> list[str]:
        """Host directories holding the packages (for runners without a mount namespace)."""
        return sorted({str(Path(p).parent) for p in self.packages.values()})

    @property
    def worker(self) -> str:
        return str(Path(self.worker_dir) / "worker.py")


def _world_accessible(path: str) -> bool:
    p = Path(path).resolve()
    try:
        if not p.stat().st_mode & stat.S_IROTH:
            return False
        for parent in p.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def _prefix_of(python: str) -> str:
    # <prefix>/bin/pythonX.Y
    return str(Path(python).resolve().parent.parent)


@functools.lru_cache(maxsize=1)
def sandbox_runtime() -> Runtime:
    packages: dict[str, str] = {}
    for name in SANDBOX_PACKAGES + OPTIONAL_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            if name in OPTIONAL_PACKAGES:
                continue
            raise SandboxError(f"package {name!r} is missing: pip install pyarrow RestrictedPython numpy")
        path = Path(list(spec.submodule_search_locations)[0])
        packages[name] = str(path)
        # Wheels vendor shared libraries next to the package (numpy.libs, pyarrow.libs).
        for sib in path.parent.glob(f"{name}.libs"):
            packages[sib.name] = str(sib)
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        str(Path(sys.base_prefix) / "bin" / f"python{ver}"),
        f"/usr/bin/python{ver}",
        f"/usr/local/bin/python{ver}",
    ]
    existing = [c for c in candidates if os.access(c, os.X_OK)]
    if not existing:
        raise SandboxError(f"no python{ver} interpreter found for the sandbox (looked at {candidates})")
    worker_dir = str(Path(__file__).resolve().parent)
    files = tuple(f for f in WORKER_FILES + OPTIONAL_WORKER_FILES if (Path(worker_dir) / f).exists())
    others = [*packages.values(), *(str(Path(worker_dir) / f) for f in files)]
    others_ok = all(_world_accessible(p) for p in others)
    for c in existing:
        if _world_accessible(c) and _world_accessible(str(Path(_prefix_of(c)) / "lib" / f"python{ver}")):
            return Runtime(str(Path(c).resolve()), _prefix_of(c), packages, worker_dir, others_ok, files)
    c = existing[0]
    return Runtime(str(Path(c).resolve()), _prefix_of(c), packages, worker_dir, False, files)

"""An exclusive, crash-proof write lock for the registry (fcntl.flock on a lock file).

flock is released by the kernel when its holder dies, so a ``kill -9`` never leaves a
stale lock behind; the pid written into the file only serves the error message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from ..labelers import RegistryError

#: How long a writer waits for another writer before giving up.
DEFAULT_TIMEOUT_S = 120.0
_POLL_S = 0.02


class RegistryLock:
    """``with RegistryLock(path): ...`` holds an exclusive lock on ``path``.

    Not re-entrant: each ``with`` opens its own descriptor, and flock locks taken on two
    descriptors of the same file exclude each other even inside one process.
    """

    def __init__(self, path: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; False (only when ``blocking`` is False) if another holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    return False
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise RegistryError(
                        f"the registry is locked by another process ({holder}) and stayed "
                        f"locked for {self.timeout_s:.0f} s: wait for that process to finish, "
                        f"or stop it (the lock is {self.path})"
                    ) from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int | None:
        """The locked descriptor. Child processes that inherit it keep the lock held until
        they exit, even when this process is killed first."""
        return self._fd

    def __enter__(self) -> RegistryLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"

"""Resource limits and deadlines for one sandboxed apply, as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Limits:
    """What a worker may use, and how long the host waits for it.

    Deadlines are generous by default because the machines are shared; a program that
    misses one is killed and quarantined, so tests lower them (``batch_timeout=2``).
    """

    memory_mb: int = 512
    """Heap budget per worker on top of its own imports (RLIMIT_AS; docker --memory)."""
    cpu_seconds: int = 3600
    """RLIMIT_CPU of a worker: a backstop for the whole apply, not a per-batch deadline."""
    pids: int = 64
    """Processes/threads per sandbox (docker --pids-limit; RLIMIT_NPROC with a fresh UID)."""
    nofile: int = 32
    start_timeout: float = 30.0
    """Seconds from spawning a worker until its first program is set up."""
    setup_timeout: float = 10.0
    """Seconds for each further program's module-level code."""
    batch_timeout: float = 10.0
    """Seconds per (batch, labeler), plus ``row_timeout`` per row."""
    row_timeout: float = 0.0002
    stderr_cap: int = 1 << 20
    """Bytes of stderr a worker may write before it is killed as an output flood."""
    max_error_rate: float = 0.05
    """A labeler raising on more than this share of rows is quarantined."""
    workers: int = 2
    """Workers per apply; labelers are split between them (one core each)."""
    stream_data: bool = False
    """Send every batch through the worker's stdin instead of sharing one read-only file."""
    stream_below: int = 4096
    """Inputs up to this many rows are streamed (no file to write) and may use a pre-started worker."""
    prewarm: int = 1
    """Workers kept started in the background for small applies such as synth's dry runs."""
    max_restarts: int = 50
    """Restarts (after kills) per apply before giving up with a SandboxError."""

    @classmethod
    def from_kwargs(cls, **kw: Any) -> Limits:
        known = {f.name for f in fields(cls)}
        unknown = set(kw) - known
        if unknown:
            raise TypeError(f"unknown sandbox limits {sorted(unknown)}; known: {sorted(known)}")
        return cls(**kw)

    def batch_deadline(self, rows: int) -> float:
        return self.batch_timeout + self.row_timeout * rows

    def worker_dict(self) -> dict[str, Any]:
        """The part the worker applies to itself (rlimits)."""
        d = asdict(self)
        return {k: d[k] for k in ("memory_mb", "cpu_seconds", "nofile")}

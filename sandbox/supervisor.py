"""The host side of an apply: start workers, stream batches, kill and isolate culprits.

A runner only says *how* to start a worker (docker, bwrap, plain process); this module
does the rest, identically for all of them. Labelers are split between
``Limits.workers`` workers (one core each). Each worker answers per (batch, labeler),
in the order the host asked, so when a deadline fires or the worker dies the host knows
exactly which labeler was running: it kills the worker, quarantines that labeler (its
rows abstain, the fault is recorded) and restarts the worker without it, resuming at
the same batch. Other labelers' votes are unaffected. Nothing that comes back is
unpickled or evaluated: JSON headers and int8 Arrow arrays, both checked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from ..labelers import SandboxError
from ..labelers.spec import LabelerSpec
from . import protocol as P
from .limits import Limits
from .policy import Policy
from .result import ApplyResult, LabelerFault
from .validate import validate

LABEL_SCHEMA = pa.schema([pa.field("label", pa.int8(), nullable=False)])
TEXT_SCHEMA = pa.schema([pa.field("text", pa.large_string())])


class DataFile:
    """The whole text column as one Arrow IPC file, shared read-only with every worker.

    Streaming every batch through the worker's stdin costs a copy per worker, and for
    docker two more through the daemon; a file the sandbox maps read-only costs none.
    Runners pass it as an inherited read-only descriptor (bwrap, subprocess: no path
    permission needed by the fresh UID) or bind-mount it (docker, owned by 65534).
    """

    def __init__(self, batches: list[pa.RecordBatch]) -> None:
        self.dir = tempfile.mkdtemp(prefix="alchemist-data-")
        self.path = os.path.join(self.dir, "texts.arrow")
        with pa.OSFile(self.path, "wb") as sink, pa.ipc.new_file(sink, TEXT_SCHEMA) as wr:
            for rb in batches:
                wr.write_batch(rb)
        os.chmod(self.path, 0o400)
        self.fd = os.open(self.path, os.O_RDONLY)

    def share_with(self, uid: int) -> None:
        """Let ``uid`` open the file by path (docker's bind mount needs that)."""
        if os.geteuid() == 0:
            os.chown(self.dir, uid, uid)
            os.chown(self.path, uid, uid)
            os.chmod(self.dir, 0o500)
        else:
            os.chmod(self.dir, 0o755)
            os.chmod(self.path, 0o444)

    def close(self) -> None:
        os.close(self.fd)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Spawned:
    """A started worker: the process whose pipes carry the protocol, and how to kill it."""

    proc: subprocess.Popen[bytes]
    kill: Callable[[], None]
    data: dict[str, Any] | None = None
    """How the worker finds the shared text file: ``{"fd": n}`` or ``{"path": p}``."""


@dataclass
class _Faults:
    errors: int = 0
    first: str | None = None
    quarantine: str | None = None
    lowered: bool = False


@dataclass
class _Shared:
    n: int
    batches: list[tuple[int, int, bytes]]
    matrix: np.ndarray
    col: dict[str, int]
    progress: Callable[[int], None] | None
    data: DataFile | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: dict[int, int] = field(default_factory=dict)
    reported: int = 0

    def advance(self, group: int, rows: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.done[group] = rows
            low = min(self.done.values())
            if low > self.reported:
                delta, self.reported = low - self.reported, low
                self.progress(delta)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's whole session (it was started with start_new_session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


class Supervisor:
    """Runs programs through workers started by ``spawn``; see the module docstring."""

    def __init__(
        self, name: str, spawn: Callable[[DataFile | None], Spawned], limits: Limits, policy: Policy,
        worker_limits: dict[str, Any], *, skip_validation: bool = False,
    ) -> None:
        # skip_validation exists for the hostile-corpus tests, which prove that the
        # worker's restricted interpreter and the sandbox hold even without the AST gate.
        self.skip_validation = skip_validation
        self.name = name
        self.spawn = spawn
        self.limits = limits
        self.policy = policy
        self.worker_limits = worker_limits
        self.lower = False
        #: Host-compiled kernels for the worker to copy (see lower_cache); set by the runner.
        self.kernel_cache: str | None = None

    def apply(
        self,
        programs: Sequence[LabelerSpec],
        texts: pa.Array | pa.ChunkedArray,
        *,
        cardinality: int,
        batch_size: int = 65536,
        lower: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult:
        """Votes of ``programs`` over ``texts``; ``lower`` lets the worker use kernels."""
        t0 = time.perf_counter()
        self.lower = lower
        ids = [p.id for p in programs]
        if len(set(ids)) != len(ids):
            raise SandboxError(f"duplicate labeler ids in one apply: {sorted({i for i in ids if ids.count(i) > 1})}")
        if cardinality < 2 or cardinality > 127:
            raise SandboxError(f"cardinality must be 2..127 for int8 labels, got {cardinality}")
        if batch_size < 1:
            raise SandboxError(f"batch_size must be >= 1, got {batch_size}")
        n = len(texts)
        matrix = np.full((n, len(ids)), -1, dtype=np.int8)
        faults: dict[str, _Faults] = {i: _Faults() for i in ids}
        runnable = []
        for p in programs:
            report = validate(p.source, self.policy)
            if report.ok or self.skip_validation:
                runnable.append(p)
            else:
                faults[p.id].quarantine = f"validation: {report.summary()}"
        batches = _batches(texts, batch_size)
        stream = self.limits.stream_data or n <= self.limits.stream_below or not runnable
        data = None if stream else DataFile(batches)
        shared = _Shared(n, _serialize(batches, stream), matrix, {i: j for j, i in enumerate(ids)}, progress, data)
        workers = max(1, min(self.limits.workers, len(runnable)))
        groups = _groups(runnable, workers, self.policy if lower else None)
        workers = len(groups)
        startup = 0.0
        restarts = 0
        try:
            if runnable and n:
                with ThreadPoolExecutor(workers, thread_name_prefix="sandbox") as pool:
                    outs = list(pool.map(lambda g: self._group(g[0], g[1], cardinality, shared, faults), enumerate(groups)))
                startup = max(o[0] for o in outs)
                restarts = sum(o[1] for o in outs)
        finally:
            if data is not None:
                data.close()
        if not runnable and progress is not None and n:
            progress(n)
        result_faults: dict[str, LabelerFault] = {}
        for lid, f in faults.items():
            if f.quarantine is None and f.errors > self.limits.max_error_rate * max(n, 1):
                f.quarantine = f"raised on {f.errors} of {n} rows (more than {self.limits.max_error_rate:.0%})"
            if f.quarantine is not None:
                matrix[:, shared.col[lid]] = -1
                first = f.quarantine if f.first is None else f"{f.quarantine}; first error: {f.first}"
                result_faults[lid] = LabelerFault(max(f.errors, 1), first, True)
            elif f.errors:
                result_faults[lid] = LabelerFault(f.errors, f.first or "", False)
        # A lowered labeler whose faulting rows the interpreter answered is still lowered.
        lowered = [lid for lid in ids if faults[lid].lowered and not (lid in result_faults and result_faults[lid].quarantined)]
        return ApplyResult(
            matrix=matrix, labeler_ids=ids, faults=result_faults, runner=self.name, lowered=lowered,
            seconds=time.perf_counter() - t0, startup_seconds=startup, restarts=restarts,
        )

    # -- one worker group -------------------------------------------------------------

    def _group(self, gi: int, progs: list[LabelerSpec], k: int, sh: _Shared, faults: dict[str, _Faults]) -> tuple[float, int]:
        active = [p for p in progs]
        b = 0
        done_in_batch: set[str] = set()
        first_start: float | None = None
        restarts = 0
        while active and b < len(sh.batches):
            t_spawn = time.perf_counter()
            w = self.spawn(sh.data)
            assert w.proc.stdin and w.proc.stdout and w.proc.stderr
            ch = P.Channel(w.proc.stdin.fileno(), w.proc.stdout.fileno(), w.proc.stderr.fileno(), stderr_cap=self.limits.stderr_cap, max_reply=8 * sh.n + (1 << 20))
            current: str | None = None
            last: str | None = None
            try:
                setup = {
                    "programs": [{"id": p.id, "source": p.source} for p in active],
                    "cardinality": k,
                    "policy": self.policy.to_dict(),
                    "limits": self.worker_limits,
                    "data": w.data,
                    # A worker that can lower a program answers its hello with "lowered": true.
                    "lower": self.lower,
                    "kernel_cache": self.kernel_cache,
                }
                deadline = time.monotonic() + self.limits.start_timeout
                ch.send(P.message(P.SETUP, setup), deadline)
                # READY comes before any untrusted code runs: a failure up to here is ours.
                ready = ch.recv(deadline)
                if ready[:1] != P.READY:
                    raise P.ProtocolError(f"expected ready, got {ready[:80]!r}")
                if first_start is None:
                    first_start = time.perf_counter() - t_spawn
                for p in list(active):
                    current = last = p.id
                    tag, head, _ = P.parse_message(ch.recv(time.monotonic() + self.limits.setup_timeout))
                    if tag != P.HELLO or head.get("id") != p.id:
                        raise P.ProtocolError(f"expected hello for {p.id}, got {tag!r} {head.get('id')!r}")
                    faults[p.id].lowered = bool(head.get("lowered"))
                    if head.get("error"):
                        faults[p.id].quarantine = f"failed to load: {str(head['error'])[:300]}"
                        active.remove(p)
                current = None
                while b < len(sh.batches) and active:
                    off, rows, ipc = sh.batches[b]
                    run = [p.id for p in active if p.id not in done_in_batch]
                    ch.send(P.message(P.BATCH, {"batch": b, "run": run}, ipc), time.monotonic() + self.limits.batch_deadline(rows))
                    for lid in run:
                        current = last = lid
                        payload = ch.recv(time.monotonic() + self.limits.batch_deadline(rows))
                        self._take(payload, lid, b, off, rows, k, sh, faults[lid])
                        if faults[lid].quarantine is not None:
                            active = [p for p in active if p.id != lid]
                        done_in_batch.add(lid)
                        current = None
                    done_in_batch.clear()
                    b += 1
                    sh.advance(gi, off + rows)
                try:
                    ch.send(P.END, time.monotonic() + 5)
                except (P.PeerGone, P.Deadline):
                    pass
                # The worker is done; its exit (and docker's container removal, ~0.3 s)
                # need not hold up the result, so reap it in the background.
                threading.Thread(target=self._reap, args=(w,), daemon=True).start()
            except (P.Deadline, P.PeerGone, P.ProtocolError, P.OutputFlood) as exc:
                w.kill()
                rc = self._reap(w)
                restarts += 1
                reason = _reason(exc, rc, ch.stderr_text(), b)
                # Between labelers (e.g. reading the next batch) the last one to run is
                # the only untrusted code that can have caused it (memory it kept, say).
                culprit = current or last
                if culprit is None:
                    raise SandboxError(
                        f"the {self.name} sandbox worker failed before running any program ({reason}); "
                        "check the runner with `alchemist-engine runners` and `alchemist-engine sandbox-image`"
                    ) from exc
                faults[culprit].quarantine = reason
                active = [p for p in active if p.id != culprit]
                if restarts > self.limits.max_restarts:
                    raise SandboxError(f"{self.name}: more than {self.limits.max_restarts} worker restarts in one apply; last: {reason}") from exc
            except BaseException:
                w.kill()
                self._reap(w)
                raise
        return (first_start or 0.0), restarts

    def _take(self, payload: bytes, lid: str, b: int, off: int, rows: int, k: int, sh: _Shared, f: _Faults) -> None:
        tag, head, body = P.parse_message(payload)
        if tag != P.LABELS or head.get("id") != lid or head.get("batch") != b:
            raise P.ProtocolError(f"expected labels for {lid} batch {b}, got {tag!r} {head.get('id')!r} {head.get('batch')!r}")
        errors = head.get("errors")
        if type(errors) is not int or not 0 <= errors <= rows:
            raise P.ProtocolError(f"bad error count {errors!r}")
        f.errors += errors
        if f.first is None and head.get("first_error"):
            f.first = f"batch {b} {str(head['first_error'])[:300]}"
        if head.get("violation"):
            f.quarantine = f"contract violation: {str(head['violation'])[:300]}"
            return
        try:
            table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
            if not table.schema.equals(LABEL_SCHEMA) or table.num_rows != rows:
                raise P.ProtocolError(f"labels must be {rows} rows of label:int8, got {table.num_rows} rows of {table.schema}")
            col = table.column(0).combine_chunks()
            col.validate(full=True)
        except (pa.ArrowException, OSError) as exc:  # whatever a broken worker sends
            raise P.ProtocolError(f"labels are not a valid Arrow IPC stream: {exc}") from None
        if col.null_count:
            raise P.ProtocolError("labels contain nulls")
        votes = col.to_numpy(zero_copy_only=False)
        if rows and (votes.min() < -1 or votes.max() >= k):
            raise P.ProtocolError(f"labels outside -1..{k - 1}")
        sh.matrix[off : off + rows, sh.col[lid]] = votes

    @staticmethod
    def _reap(w: Spawned) -> int | None:
        try:
            return w.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            w.kill()
            try:
                return w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                return None
        finally:
            for s in (w.proc.stdin, w.proc.stdout, w.proc.stderr):
                try:
                    if s:
                        s.close()
                except OSError:
                    pass


def _reason(exc: BaseException, rc: int | None, stderr: str, batch: int) -> str:
    tail = stderr.splitlines()[-1][:200] if stderr else ""
    if isinstance(exc, P.Deadline):
        text = f"timeout on batch {batch}: no answer in time (infinite loop, catastrophic regex or too slow)"
    elif isinstance(exc, P.OutputFlood):
        text = f"output flood: {exc}"
    elif isinstance(exc, P.ProtocolError):
        text = f"protocol violation: {exc}"
    else:
        how = "killed (out of memory or a limit)" if rc in (137, -9) else f"exit code {rc}"
        text = f"worker died while running it ({how})"
    return f"{text}{'; stderr: ' + tail if tail else ''}"


def _batches(texts: pa.Array | pa.ChunkedArray, batch_size: int) -> list[pa.RecordBatch]:
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise SandboxError(f"texts must be an Arrow string column, got {texts.type}")
    out = []
    n = len(texts)
    for off in range(0, n, batch_size):
        part = texts.slice(off, min(batch_size, n - off))
        if isinstance(part, pa.ChunkedArray):
            part = part.combine_chunks() if part.num_chunks else pa.array([], pa.large_string())
        out.append(pa.RecordBatch.from_arrays([part.cast(pa.large_string())], schema=TEXT_SCHEMA))
    return out


def _serialize(batches: list[pa.RecordBatch], stream: bool) -> list[tuple[int, int, bytes]]:
    """(offset, rows, IPC stream bytes or b"" when the worker reads the shared file)."""
    out = []
    off = 0
    for rb in batches:
        body = b""
        if stream:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, TEXT_SCHEMA) as wr:
                wr.write_batch(rb)
            body = sink.getvalue().to_pybytes()
        out.append((off, rb.num_rows, body))
        off += rb.num_rows
    return out


def _groups(runnable: list[LabelerSpec], workers: int, policy: Policy | None) -> list[list[LabelerSpec]]:
    """Split labelers between workers; with lowering (``policy`` given) every lowerable
    one goes to the same worker, whose kernels share one pass over the text and use
    every core, and the interpreted rest is split between the others."""
    if policy is None or workers < 2:
        return [runnable[g::workers] for g in range(workers)]
    from .lower import Allowed, lower

    allowed = Allowed.from_policy(policy.to_dict())
    low = [p for p in runnable if lower(p.source, allowed) is not None]
    rest = [p for p in runnable if p not in low]
    if not low or not rest:
        return [runnable[g::workers] for g in range(workers)] if not low else [low]
    k = workers - 1
    return [low] + [g for g in (rest[i::k] for i in range(k)) if g]

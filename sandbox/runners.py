"""The three runners and how to pick one.

Each runner only knows how to *start* a worker; :mod:`.supervisor` streams batches,
enforces deadlines and isolates faults identically for all of them.

* ``docker``: a container from the empty local image, runtime mounted read-only,
  no network, no capabilities, cgroup memory/pid/cpu limits, UID 65534, empty env.
* ``bwrap``: bubblewrap with every namespace unshared, nested user namespaces
  disabled, a read-only root holding only /usr and the mounted runtime, a fresh UID
  per worker when started as root, rlimits.
* ``subprocess``: a development fallback. rlimits, empty environment, a fresh UID and
  a private network namespace when the host allows (root or unprivileged userns), but
  **no filesystem isolation**: the program sees the host's files through the worker
  process if it ever got past the restricted interpreter.
"""

from __future__ import annotations

import functools
import os
import queue
import random
import shutil
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from ..labelers import SandboxError
from ..labelers.spec import LabelerSpec
from .image import IMAGE, _docker, engine_running, ensure_image, image_exists
from .limits import Limits
from .lower_cache import KERNEL_MOUNT
from .lower_cache import cache_root as kernel_cache_root
from .lower_cache import kernel_cache as lower_kernel_cache
from .policy import Policy
from .result import ApplyResult
from .runtime import Runtime, sandbox_runtime
from .supervisor import DataFile, Spawned, Supervisor, kill_group

RUNNERS = ("docker", "bwrap", "subprocess")


@runtime_checkable
class Runner(Protocol):
    name: str

    def apply(
        self,
        programs: Sequence[LabelerSpec],
        texts: pa.Array | pa.ChunkedArray,
        *,
        cardinality: int,
        batch_size: int = 65536,
        lower: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult: ...


def _fresh_uid() -> int:
    # A UID no account or other sandbox uses, so per-UID limits (RLIMIT_NPROC) and
    # file ownership are this worker's alone: a fork bomb cannot starve a neighbour.
    return random.randrange(1_000_000, 2_000_000_000)


def _setpriv(uid: int) -> list[str]:
    exe = shutil.which("setpriv")
    if exe is None:
        raise SandboxError("setpriv (util-linux) is missing: apt-get install util-linux")
    return [exe, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]


def _popen(cmd: list[str], data: DataFile | None = None) -> tuple[subprocess.Popen[bytes], dict[str, Any] | None]:
    """Start a worker; the shared text file, if any, is inherited as a read-only fd."""
    fds = (data.fd,) if data is not None else ()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={}, start_new_session=True, close_fds=True, pass_fds=fds, cwd="/",
    )
    return proc, ({"fd": data.fd} if data is not None else None)


def _spawner_loop(tasks: queue.SimpleQueue[Callable[[], None]]) -> None:
    while True:
        tasks.get()()


# Pre-started workers are spawned from one thread that lives as long as the process:
# bwrap's --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that started it
# exits, so a short-lived helper thread would take its workers down with it.
_SPAWNER: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
threading.Thread(target=_spawner_loop, args=(_SPAWNER,), name="sandbox-spawner", daemon=True).start()


def _stop_all(pool: list[Spawned]) -> None:
    for w in list(pool):
        w.kill()


class _Base:
    name = "base"

    def __init__(self, limits: Limits, policy: Policy) -> None:
        self.limits = limits
        self.policy = policy
        self.runtime: Runtime = sandbox_runtime()
        self._pool: list[Spawned] = []
        self._pool_lock = threading.Lock()
        self._small_applies = 0
        # Pre-started workers are stopped when the runner goes away or the process exits
        # (finalize, not atexit.register(self.close), which would keep every runner alive).
        weakref.finalize(self, _stop_all, self._pool)

    def worker_limits(self) -> dict[str, Any]:
        return self.limits.worker_dict()

    def spawn(self, data: DataFile | None = None) -> Spawned:
        """A worker; for small streamed applies (dry runs) one pre-started in the background.

        A pooled worker has only imported pyarrow and RestrictedPython and waits for its
        setup frame: it has seen no program yet, so nothing is shared between applies.
        """
        if data is not None or self.limits.prewarm <= 0:
            return self._start(data)
        with self._pool_lock:
            ready = [w for w in self._pool if w.proc.poll() is None]
            w = ready.pop(0) if ready else None
            self._pool[:] = ready
            self._small_applies += 1
        # Refill from the second small apply on: a one-shot apply of a small file should
        # not leave a spare sandbox starting behind it.
        if self._small_applies >= 2:
            _SPAWNER.put(self._refill)
        return w if w is not None else self._start(None)

    def _refill(self) -> None:
        with self._pool_lock:
            missing = self.limits.prewarm - len(self._pool)
        for _ in range(max(0, missing)):
            try:
                w = self._start(None)
            except (SandboxError, OSError):
                return
            with self._pool_lock:
                self._pool.append(w)

    def close(self) -> None:
        """Stop pre-started workers (they also exit on their own when this process ends)."""
        with self._pool_lock:
            pool = self._pool[:]
            self._pool.clear()
        _stop_all(pool)

    def _start(self, data: DataFile | None) -> Spawned:
        raise NotImplementedError

    def apply(
        self,
        programs: Sequence[LabelerSpec],
        texts: pa.Array | pa.ChunkedArray,
        *,
        cardinality: int,
        batch_size: int = 65536,
        lower: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult:
        # ``lower`` travels to the worker in the setup frame; programs it runs as kernels
        # come back in ApplyResult.lowered (the worker reports them in its hello).
        sup = Supervisor(self.name, self.spawn, self.limits, self.policy, self.worker_limits())
        if lower:
            sup.kernel_cache = self.kernel_cache()
        return sup.apply(programs, texts, cardinality=cardinality, batch_size=batch_size, lower=lower, progress=progress)

    def kernel_cache(self) -> str | None:
        """Where the worker finds the host-compiled lowering kernels (None: it compiles)."""
        try:
            built = lower_kernel_cache()
        except SandboxError:
            return None  # the worker falls back to compiling, or to interpreting
        mounted = self.name in ("docker", "bwrap")
        return f"{KERNEL_MOUNT}/{built.name}" if mounted else str(built)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class SubprocessRunner(_Base):
    name = "subprocess"

    def __init__(self, limits: Limits, policy: Policy) -> None:
        super().__init__(limits, policy)
        self.isolate_uid = os.geteuid() == 0 and self.runtime.world_readable
        self.net = _net_prefix()

    def worker_limits(self) -> dict[str, Any]:
        d = self.limits.worker_dict()
        if self.isolate_uid:
            d["nproc"] = self.limits.pids
        return d

    def _start(self, data: DataFile | None) -> Spawned:
        rt = self.runtime
        cmd = [rt.python, "-I", "-S", rt.worker, *rt.site_dirs]
        if self.isolate_uid:
            cmd = _setpriv(_fresh_uid()) + cmd
        proc, spec = _popen(self.net + cmd, data)
        return Spawned(proc, lambda: kill_group(proc), spec)


@functools.lru_cache(maxsize=1)
def _net_prefix() -> list[str]:
    """The best network isolation this host allows for a plain process, or none."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    for prefix in ([exe, "--net"], [exe, "--user", "--map-current-user", "--net"], [exe, "--user", "--net"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    return []


class BwrapRunner(_Base):
    name = "bwrap"

    def __init__(self, limits: Limits, policy: Policy) -> None:
        super().__init__(limits, policy)
        self.as_root = os.geteuid() == 0
        if self.as_root and not self.runtime.world_readable:
            raise SandboxError(
                f"bwrap drops to a fresh UID, which cannot read the sandbox runtime ({self.runtime.python}, "
                f"{', '.join(self.runtime.packages.values())}); install the project where every user can read it"
            )

    def worker_limits(self) -> dict[str, Any]:
        d = self.limits.worker_dict()
        if self.as_root:
            d["nproc"] = self.limits.pids
        return d

    def command(self, args: Sequence[str] = ("/sbx/worker.py", "/sp")) -> list[str]:
        """The full command line; ``args`` follow ``python -I -S`` inside the sandbox."""
        rt = self.runtime
        exe = shutil.which("bwrap")
        if exe is None:
            raise SandboxError("bubblewrap is not installed: apt-get install bubblewrap (or use --runner docker)")
        cmd = [
            exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--clearenv", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr",
        ]
        if _bwrap_has("--disable-userns"):
            cmd.insert(3, "--disable-userns")
        for d in ("/lib", "/lib64", "/bin"):
            if os.path.islink(d):
                cmd += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                cmd += ["--ro-bind", d, d]
        if rt.prefix != "/usr" and not rt.prefix.startswith("/usr/"):
            cmd += ["--ro-bind", rt.prefix, rt.prefix]
        for name, path in rt.packages.items():
            cmd += ["--ro-bind", path, f"/sp/{name}"]
        for f in rt.files:
            cmd += ["--ro-bind", str(Path(rt.worker_dir) / f), f"/sbx/{f}"]
        cmd += ["--ro-bind", str(kernel_cache_root()), KERNEL_MOUNT]  # compiled kernels, see lower_cache
        cmd += [
            "--proc", "/proc", "--dev", "/dev", "--size", str(16 << 20), "--tmpfs", "/tmp",
            "--remount-ro", "/", rt.python, "-I", "-S", *args,
        ]
        return (_setpriv(_fresh_uid()) if self.as_root else []) + cmd

    def _start(self, data: DataFile | None) -> Spawned:
        proc, spec = _popen(self.command(), data)
        return Spawned(proc, lambda: kill_group(proc), spec)


@functools.lru_cache(maxsize=8)
def _bwrap_has(flag: str) -> bool:
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    out = subprocess.run([exe, "--help"], capture_output=True, timeout=10)
    return flag.encode() in out.stdout + out.stderr


class DockerRunner(_Base):
    name = "docker"

    def __init__(self, limits: Limits, policy: Policy, image: str = IMAGE) -> None:
        super().__init__(limits, policy)
        self.image = image

    def command(self, name: str, data_dir: str | None = None) -> list[str]:
        rt = self.runtime
        mem = f"{self.limits.memory_mb + 256}m"  # + what the worker's imports take
        cmd = [
            "docker", "run", "-i", "--rm", "--name", name,
            "--network", "none", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--pids-limit", str(self.limits.pids),
            # All cores: lowered kernels run on threads; a program itself cannot start any.
            "--memory", mem, "--memory-swap", mem, "--cpus", str(os.cpu_count() or 1),
            "--user", "65534:65534", "--ipc", "none", "--log-driver", "none",
            "--ulimit", f"nofile={self.limits.nofile * 2}:{self.limits.nofile * 2}", "--ulimit", "core=0",
            "--tmpfs", "/tmp:rw,noexec,nosuid,size=16m",
            "-v", "/usr:/usr:ro",
        ]
        for d in ("/lib", "/lib64", "/bin"):
            if os.path.exists(d):
                cmd += ["-v", f"{d}:{d}:ro"]
        if rt.prefix != "/usr" and not rt.prefix.startswith("/usr/"):
            cmd += ["-v", f"{rt.prefix}:{rt.prefix}:ro"]
        for pkg, path in rt.packages.items():
            cmd += ["-v", f"{path}:/sp/{pkg}:ro"]
        for f in rt.files:
            cmd += ["-v", f"{Path(rt.worker_dir) / f}:/sbx/{f}:ro"]
        if data_dir is not None:
            cmd += ["-v", f"{data_dir}:/data:ro"]
        cmd += ["-v", f"{kernel_cache_root()}:{KERNEL_MOUNT}:ro"]  # compiled kernels, see lower_cache
        cmd += [self.image, rt.python, "-I", "-S", "/sbx/worker.py", "/sp"]
        return cmd

    def _start(self, data: DataFile | None) -> Spawned:
        name = f"alchemist-sbx-{uuid.uuid4().hex[:12]}"
        if data is not None:
            data.share_with(65534)  # descriptors do not cross into containers: mount it
        cmd = self.command(name, data.dir if data is not None else None)
        cmd[0] = shutil.which("docker") or "docker"
        proc, _ = _popen(cmd)

        def kill() -> None:
            # Killing the CLI client would leave the container running: kill it by name.
            try:
                _docker("kill", name, timeout=20)
            except SandboxError:
                pass
            kill_group(proc)

        return Spawned(proc, kill, {"path": "/data/texts.arrow"} if data is not None else None)


@functools.lru_cache(maxsize=1)
def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    try:
        r = BwrapRunner(Limits(), Policy.default())
        # Same sandbox, but run the interpreter with a trivial program instead of the worker.
        probe = r.command(["-c", "pass"])
        return subprocess.run(probe, capture_output=True, timeout=30, env={}).returncode == 0
    except (SandboxError, OSError, subprocess.TimeoutExpired):
        return False


def available_runners() -> list[str]:
    """Runners that can start here, strongest first."""
    out = []
    if engine_running() and image_exists():
        out.append("docker")
    if _bwrap_works():
        out.append("bwrap")
    out.append("subprocess")
    return out


def get_runner(name: str | None = None, **limits: Any) -> Runner:
    """A runner by name, or the strongest available when ``name`` is None.

    ``limits`` are :class:`~.limits.Limits` fields (``memory_mb=256, batch_timeout=2``)
    plus ``policy=`` (a :class:`~.policy.Policy`).
    """
    policy = limits.pop("policy", None) or Policy.default()
    lim = Limits.from_kwargs(**limits)
    if name is None:
        name = available_runners()[0]
    if name == "docker":
        if not engine_running():
            raise SandboxError(
                "the docker runner needs a Docker engine: start it (`sudo dockerd > /tmp/dockerd.log 2>&1 &`, "
                "or `alchemist-engine sandbox-image --start-engine` as root), or use --runner bwrap"
            )
        ensure_image()
        return DockerRunner(lim, policy)
    if name == "bwrap":
        if not _bwrap_works():
            raise SandboxError(
                "the bwrap runner cannot start a sandbox here: install bubblewrap (apt-get install bubblewrap) "
                "and allow user namespaces (sysctl kernel.unprivileged_userns_clone=1), or use --runner docker"
            )
        return BwrapRunner(lim, policy)
    if name == "subprocess":
        return SubprocessRunner(lim, policy)
    raise SandboxError(f"unknown runner {name!r}: choose one of {', '.join(RUNNERS)}")


def dry_run(program: LabelerSpec, sample: Sequence[str], *, cardinality: int, runner: Runner) -> str | None:
    """None if ``program`` validates and runs on ``sample`` without any fault, else why not."""
    policy = getattr(runner, "policy", None)
    from .validate import validate

    report = validate(program.source, policy)
    if not report.ok:
        return f"validation: {report.summary()}"
    t = time.perf_counter()
    res = runner.apply([program], pa.array(list(sample), pa.large_string()), cardinality=cardinality, lower=False)
    fault = res.faults.get(program.id)
    if fault is None:
        return None
    return f"{fault.first_error} ({fault.count} faults on {len(sample)} sample rows, {time.perf_counter() - t:.1f} s)"


ISOLATION = {
    "docker": "container: no network, read-only root, no capabilities, cgroup limits, uid 65534",
    "bwrap": "bubblewrap: all namespaces, read-only root, fresh uid, rlimits",
    "subprocess": "process: rlimits, empty env, fresh uid + no network where allowed; NO filesystem isolation (development only)",
}


def runner_status() -> list[dict[str, Any]]:
    """Each runner, whether it can start here, what it isolates, and how to fix it if not."""
    rows = []
    for name in RUNNERS:
        ok, detail = True, ""
        if name == "docker":
            if not engine_running():
                ok, detail = False, "no Docker engine answers: start dockerd (alchemist-engine sandbox-image --start-engine)"
            elif not image_exists():
                ok, detail = False, f"image {IMAGE} missing: alchemist-engine sandbox-image"
        elif name == "bwrap" and not _bwrap_works():
            ok, detail = False, "bubblewrap missing or user namespaces disabled: apt-get install bubblewrap"
        rows.append({"name": name, "available": ok, "isolation": ISOLATION[name], "detail": detail})
    return rows

"""The hostile corpus (tests/hostile/*.py) against every runner.

Each corpus file starts with ``# expect: validation|runtime``, ``# category: ...`` and
optionally ``# fault: <text the fault report must contain>``. Placeholders SECRET_PATH,
CANARY_DIR and CANARY_PORT are replaced with this test's canaries: a secret file, a
directory that must stay unchanged, and a loopback TCP listener that must never get a
connection. OPENAI_API_KEY is set to a canary value in the host environment.

A program returns 1 only when its attack worked, so in every run no hostile column may
contain a 1. Three runs per runner:
* the normal apply (AST gate on): every program is stopped where its header says;
* the same programs with the AST gate *off*: the worker's restricted interpreter and
  the sandbox alone must still contain them;
* the policy deliberately opened (``open``, ``os.environ``, ``socket`` allowed): only
  the sandbox boundary is left, and for docker and bwrap it must hold.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from alchemist_engine.labelers import LabelerSpec, SandboxError
from alchemist_engine.sandbox import ApplyResult, Policy, ensure_engine, get_runner, validate
from alchemist_engine.sandbox.runners import _Base
from alchemist_engine.sandbox.supervisor import Supervisor

HOSTILE = Path(__file__).parent / "hostile"
RUNNER_PARAMS = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("bwrap", marks=pytest.mark.bwrap),
    "subprocess",
]
LIMITS: dict[str, Any] = {"batch_timeout": 2.0, "setup_timeout": 2.0, "memory_mb": 256, "workers": 2}
TEXTS = [f"row {i}: great video, check my channel" if i % 3 else f"plain comment {i}" for i in range(20)]
CONTROL = LabelerSpec(
    "control", "youtube",
    "import re\nCH = re.compile(r'channel', re.I)\n"
    "def label_function(text):\n    return 0 if CH.search(text) else -1\n",
)
EXPECTED_CONTROL = np.array([0 if "channel" in t else -1 for t in TEXTS], np.int8)


@dataclass(frozen=True)
class Hostile:
    name: str
    expect: str
    category: str
    fault: str | None
    raw: str


def _corpus() -> list[Hostile]:
    out = []
    for f in sorted(HOSTILE.glob("*.py")):
        raw = f.read_text(encoding="utf-8")
        m = re.search(r"^# expect: (validation|runtime)$", raw, re.M)
        if m is None:
            continue
        cat = re.search(r"^# category: (.+)$", raw, re.M)
        fault = re.search(r"^# fault: (.+)$", raw, re.M)
        out.append(Hostile(f.stem, m.group(1), cat.group(1) if cat else "?", fault.group(1) if fault else None, raw))
    return out


CORPUS = _corpus()


@dataclass
class Canaries:
    dir: Path
    secret: Path
    listener: socket.socket
    port: int
    secret_text: str

    def program(self, h: Hostile) -> LabelerSpec:
        src = h.raw.replace("SECRET_PATH", str(self.secret)).replace("CANARY_DIR", str(self.dir))
        src = src.replace("CANARY_PORT", str(self.port))
        return LabelerSpec(h.name, "youtube", src)

    def assert_untouched(self) -> None:
        assert self.secret.read_text() == self.secret_text
        assert sorted(p.name for p in self.dir.iterdir()) == ["secret.txt"], "a sandboxed program wrote to the host"
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.close()
        raise AssertionError("a sandboxed program connected to the host's loopback listener")


@pytest.fixture(scope="module")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canaries]:
    d = tmp_path_factory.mktemp("canary")
    d.chmod(0o700)
    secret = d / "secret.txt"
    text = "CANARY-SECRET-7f3a"
    secret.write_text(text)
    secret.chmod(0o600)
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    lst.setblocking(False)
    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "canary-key-do-not-leak"
    try:
        yield Canaries(d, secret, lst, lst.getsockname()[1], text)
    finally:
        lst.close()
        if old is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = old


def make_runner(name: str, **limits: Any) -> _Base:
    """The named runner, or a skip locally / a failure in CI when it cannot start."""
    try:
        if name == "docker" and os.environ.get("CI"):
            ensure_engine()
        runner = get_runner(name, **limits)
    except SandboxError as exc:
        if os.environ.get("CI") and name in ("docker", "bwrap"):
            pytest.fail(f"runner {name} must work in CI: {exc}")
        pytest.skip(f"runner {name} unavailable here: {exc}")
    assert isinstance(runner, _Base)
    return runner


_RUNS: dict[tuple[str, str], ApplyResult] = {}


def _run(name: str, canaries: Canaries, mode: str) -> ApplyResult:
    """One apply of the whole corpus + control per (runner, mode), shared by the tests."""
    key = (name, mode)
    if key not in _RUNS:
        runner = make_runner(name, **LIMITS)
        programs = [canaries.program(h) for h in CORPUS] + [CONTROL]
        texts = pa.array(TEXTS, pa.string())
        if mode == "gated":
            # lower=False: this corpus is about the interpreter path; lowering only reads
            # a program's AST and is exercised by the lowering tests.
            _RUNS[key] = runner.apply(programs, texts, cardinality=2, batch_size=8, lower=False)
        else:
            sup = Supervisor(runner.name, runner.spawn, runner.limits, runner.policy, runner.worker_limits(), skip_validation=True)
            _RUNS[key] = sup.apply(programs, texts, cardinality=2, batch_size=8)
    return _RUNS[key]


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(CORPUS) >= 40
    cats = {h.category for h in CORPUS}
    for needed in [
        "files", "files-write", "secrets", "network", "process", "fork", "ctypes", "import",
        "introspection", "format-string", "eval", "signals", "exit", "threads", "time-bomb",
        "monkeypatch", "memory-bomb", "recursion-bomb", "infinite-loop", "redos",
        "bad-return", "huge-output", "exceptions",
    ]:
        assert needed in cats, f"no hostile program for category {needed}"


@pytest.mark.parametrize("h", CORPUS, ids=lambda h: h.name)
def test_static_gate_matches_header(h: Hostile) -> None:
    report = validate(h.raw.replace("CANARY_PORT", "1"))
    assert report.ok == (h.expect == "runtime"), report.summary()
    if not report.ok:
        assert all(i.line >= 0 and i.message for i in report.issues)


@pytest.mark.parametrize("runner_name", RUNNER_PARAMS)
def test_corpus_is_stopped_where_expected(runner_name: str, canaries: Canaries) -> None:
    res = _run(runner_name, canaries, "gated")
    assert res.runner == runner_name
    col = {lid: j for j, lid in enumerate(res.labeler_ids)}
    problems = []
    for h in CORPUS:
        fault = res.faults.get(h.name)
        if fault is None or not fault.quarantined:
            problems.append(f"{h.name}: not quarantined ({fault})")
            continue
        stopped_by_gate = fault.first_error.startswith("validation:")
        if stopped_by_gate != (h.expect == "validation"):
            problems.append(f"{h.name}: expected {h.expect}, got {fault.first_error[:120]}")
        if h.fault and h.fault not in fault.first_error:
            problems.append(f"{h.name}: fault should mention {h.fault!r}: {fault.first_error[:160]}")
        if (res.matrix[:, col[h.name]] != -1).any():
            problems.append(f"{h.name}: a quarantined labeler still votes")
    assert not problems, "\n".join(problems)
    assert "control" not in res.faults
    np.testing.assert_array_equal(res.matrix[:, col["control"]], EXPECTED_CONTROL)
    canaries.assert_untouched()


@pytest.mark.slow
@pytest.mark.parametrize("runner_name", RUNNER_PARAMS)
def test_corpus_is_contained_without_the_static_gate(runner_name: str, canaries: Canaries) -> None:
    res = _run(runner_name, canaries, "ungated")
    col = {lid: j for j, lid in enumerate(res.labeler_ids)}
    escaped = [h.name for h in CORPUS if (res.matrix[:, col[h.name]] == 1).any()]
    assert not escaped, f"programs reported a successful attack: {escaped}"
    assert "control" not in res.faults
    np.testing.assert_array_equal(res.matrix[:, col["control"]], EXPECTED_CONTROL)
    canaries.assert_untouched()


OPENED = Policy.default().extend(
    modules={"os": ["environ", "listdir", "getuid"], "socket": ["create_connection"]},
    builtins=["open"],
)
BOUNDARY = {
    "read_secret": "def label_function(text):\n    return 1 if 'CANARY' in open('SECRET_PATH').read() else 0\n",
    "read_passwd": "def label_function(text):\n    return 1 if 'root:' in open('/etc/passwd').read() else 0\n",
    "write_canary": "def label_function(text):\n    open('CANARY_DIR/pwned', 'w').write('x')\n    return 1\n",
    "write_tmp_persist": "def label_function(text):\n    open('/tmp/alchemist-pwned-probe', 'w').write('x')\n    return 0\n",
    "env_key": "import os\ndef label_function(text):\n    return 1 if 'canary' in os.environ.get('OPENAI_API_KEY', '') else 0\n",
    "loopback": "import socket\ndef label_function(text):\n    socket.create_connection(('127.0.0.1', CANARY_PORT), timeout=1).sendall(b'x')\n    return 1\n",
    "list_home": "import os\ndef label_function(text):\n    return 1 if 'root' in os.listdir('/') and os.listdir('/root') else 0\n",
}


@pytest.mark.parametrize("runner_name", RUNNER_PARAMS)
def test_sandbox_boundary_holds_with_policy_opened(runner_name: str, canaries: Canaries) -> None:
    runner = make_runner(runner_name, policy=OPENED, **LIMITS)
    programs = [
        canaries.program(Hostile(k, "runtime", "boundary", None, v)) for k, v in BOUNDARY.items()
    ]
    res = runner.apply(programs + [CONTROL], pa.array(TEXTS), cardinality=2, batch_size=8, lower=False)
    col = {lid: j for j, lid in enumerate(res.labeler_ids)}
    got = {k: bool((res.matrix[:, col[k]] == 1).any()) for k in BOUNDARY}
    # Without a mount namespace the subprocess runner relies on the fresh UID for files
    # (a private secret stays private) and on a network namespace; it has no view
    # restriction (/etc/passwd and / are visible): documented as a dev fallback.
    must_hold = set(BOUNDARY) if runner_name != "subprocess" else {"read_secret", "write_canary", "env_key", "loopback"}
    if runner_name == "subprocess" and os.geteuid() != 0:
        must_hold = {"env_key"}
    leaked = sorted(k for k in must_hold if got[k])
    assert not leaked, f"{runner_name} let these through: {leaked}"
    probe = Path("/tmp/alchemist-pwned-probe")
    if runner_name == "subprocess":
        probe.unlink(missing_ok=True)  # no filesystem isolation there: clean up after it
    assert not probe.exists(), f"{runner_name} let a program create a file in the host's /tmp"
    np.testing.assert_array_equal(res.matrix[:, col["control"]], EXPECTED_CONTROL)
    canaries.assert_untouched()


FORK_BOMB = "import os\ndef label_function(text):\n    while True:\n        os.fork()\n"


@pytest.mark.parametrize("runner_name", RUNNER_PARAMS)
def test_fork_bomb_does_not_starve_a_neighbour(runner_name: str, canaries: Canaries) -> None:
    # The policy is opened (os.fork allowed) so that only the sandbox's process limits
    # stand: docker's --pids-limit per container, bwrap's and the subprocess runner's
    # RLIMIT_NPROC on a fresh UID per worker. The control labeler runs in the other
    # worker (workers=2) and must be unaffected.
    if runner_name == "subprocess" and os.geteuid() != 0:
        pytest.skip("without a fresh UID per worker, RLIMIT_NPROC would hit this user's processes")
    runner = make_runner(runner_name, policy=Policy.default().extend(modules={"os": ["fork"]}), **LIMITS)
    bomb = LabelerSpec("bomb", "youtube", FORK_BOMB)
    res = runner.apply([bomb, CONTROL], pa.array(TEXTS), cardinality=2, batch_size=8, lower=False)
    assert res.faults["bomb"].quarantined
    assert "control" not in res.faults
    np.testing.assert_array_equal(res.matrix[:, 1], EXPECTED_CONTROL)
    canaries.assert_untouched()

"""Runners end to end: exact votes, batching, fault isolation, protocol, selection."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from alchemist_engine.labelers import LabelerSpec, SandboxError
from alchemist_engine.sandbox import (
    ApplyResult,
    Limits,
    Policy,
    Runner,
    available_runners,
    dry_run,
    ensure_engine,
    get_runner,
)
from alchemist_engine.sandbox import protocol as P
from alchemist_engine.sandbox.runners import BwrapRunner, DockerRunner, _Base
from alchemist_engine.sandbox.runtime import sandbox_runtime

RUNNER_PARAMS = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("bwrap", marks=pytest.mark.bwrap),
    "subprocess",
]
FAST: dict[str, Any] = {"batch_timeout": 3.0, "setup_timeout": 3.0, "workers": 2}

PROGRAMS = {
    "kw": "def label_function(text):\n    return 1 if 'subscribe' in text.lower() else -1\n",
    "re3": (
        "import re\nP = re.compile(r'\\d+')\n"
        "def label_function(text):\n    n = len(P.findall(text))\n    return 2 if n > 1 else (1 if n else 0)\n"
    ),
    "len": "def label_function(text):\n    return 0 if len(text) < 12 else -1\n",
    "uni": (
        "import unicodedata\n"
        "def label_function(text):\n    t = unicodedata.normalize('NFKD', text)\n"
        "    return 1 if any(unicodedata.category(c) == 'Mn' for c in t) else 0\n"
    ),
    "odd": "def label_function(text):\n    return 1 // (len(text) % 7)\n",  # raises on some rows
}
TEXTS = [
    "Subscribe to my channel!", "I love this song", "call 555 1234 now", "café crème",
    "", "x" * 50, "naïve 42", "SUBSCRIBE", "ok", "1 2 3", "sub scribe", "ünïcödé 7",
] * 9  # 108 rows: several batches, some rows raise in "odd"


def make_runner(name: str, **limits: Any) -> _Base:
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


def in_process(src: str, texts: Sequence[str | None], k: int) -> np.ndarray:
    """Trusted reference: our own test programs run plainly, errors abstain."""
    ns: dict[str, Any] = {}
    exec(compile(src, "<ref>", "exec"), ns)
    out = []
    for t in texts:
        if t is None:
            out.append(-1)
            continue
        try:
            v = ns["label_function"](t)
        except Exception:
            v = -1
        out.append(v)
    return np.array(out, np.int8)


def specs(names: list[str]) -> list[LabelerSpec]:
    return [LabelerSpec(n, "t", PROGRAMS[n]) for n in names]


@pytest.mark.parametrize("runner_name", RUNNER_PARAMS)
def test_votes_equal_plain_python_across_batches(runner_name: str) -> None:
    runner = make_runner(runner_name, **FAST, max_error_rate=0.5)
    seen: list[int] = []
    names = list(PROGRAMS)
    res = runner.apply(specs(names), pa.array(TEXTS), cardinality=3, batch_size=25, progress=seen.append)
    assert isinstance(runner, Runner)
    assert res.runner == runner_name and res.labeler_ids == names
    assert res.matrix.dtype == np.int8 and res.matrix.shape == (len(TEXTS), len(names))
    for j, n in enumerate(names):
        np.testing.assert_array_equal(res.matrix[:, j], in_process(PROGRAMS[n], list(TEXTS), 3), err_msg=n)
    assert sum(seen) == len(TEXTS)
    odd = res.faults["odd"]
    assert not odd.quarantined and odd.count == sum(1 for t in TEXTS if len(t) % 7 == 0)
    assert "ZeroDivisionError" in odd.first_error
    assert set(res.faults) == {"odd"}
    assert res.startup_seconds > 0 and res.seconds >= res.startup_seconds
    json.dumps(res.to_dict())


def test_chunked_large_string_and_nulls() -> None:
    runner = make_runner("subprocess", **FAST)
    rows: list[str | None] = ["Subscribe", None, "hello", None, "subscribe now"]
    chunked = pa.chunked_array([pa.array(rows[:2], pa.large_string()), pa.array(rows[2:], pa.large_string())])
    res = runner.apply(specs(["kw"]), chunked, cardinality=2, batch_size=2)
    assert res.matrix[:, 0].tolist() == [1, -1, -1, -1, 1]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "shared-file"])
def test_both_data_paths_give_the_same_votes(stream: bool) -> None:
    runner = make_runner("subprocess", **FAST, stream_data=stream, max_error_rate=0.5)
    res = runner.apply(specs(["re3", "odd"]), pa.array(TEXTS), cardinality=3, batch_size=7)
    for j, n in enumerate(["re3", "odd"]):
        np.testing.assert_array_equal(res.matrix[:, j], in_process(PROGRAMS[n], TEXTS, 3))


def test_stateful_program_sees_rows_once_in_order() -> None:
    # The worker maps over rows and resumes after a raise: each row exactly once.
    src = (
        "SEEN = []\ndef label_function(text):\n    SEEN.append(text)\n"
        "    if len(SEEN) % 4 == 0:\n        raise ValueError('every fourth')\n"
        "    return len(SEEN) % 2\n"
    )
    runner = make_runner("subprocess", **{**FAST, "workers": 1}, max_error_rate=0.5)
    res = runner.apply([LabelerSpec("st", "t", src)], pa.array([str(i) for i in range(30)]), cardinality=2, batch_size=9)
    want = [-1 if (i + 1) % 4 == 0 else (i + 1) % 2 for i in range(30)]
    assert res.matrix[:, 0].tolist() == want
    assert res.faults["st"].count == 7 and not res.faults["st"].quarantined


def test_empty_input_and_no_programs() -> None:
    runner = make_runner("subprocess")
    res = runner.apply(specs(["kw"]), pa.array([], pa.string()), cardinality=2)
    assert res.matrix.shape == (0, 1) and not res.faults
    res = runner.apply([], pa.array(["a"]), cardinality=2)
    assert res.matrix.shape == (1, 0)


def test_a_killed_labeler_does_not_disturb_the_others_mid_batch() -> None:
    # One worker: "hang" runs between two good labelers; after the kill the worker is
    # restarted and resumes the same batch with only the labelers not yet done.
    runner = make_runner("subprocess", batch_timeout=1.5, setup_timeout=3.0, workers=1)
    hang = LabelerSpec("hang", "t", "def label_function(text):\n    while len(text) > 8:\n        pass\n    return 0\n")
    progs = [specs(["kw"])[0], hang, specs(["len"])[0]]
    res = runner.apply(progs, pa.array(TEXTS[:24]), cardinality=2, batch_size=10)
    assert res.restarts == 1
    assert res.faults["hang"].quarantined and "timeout" in res.faults["hang"].first_error
    assert (res.matrix[:, 1] == -1).all()
    np.testing.assert_array_equal(res.matrix[:, 0], in_process(PROGRAMS["kw"], TEXTS[:24], 2))
    np.testing.assert_array_equal(res.matrix[:, 2], in_process(PROGRAMS["len"], TEXTS[:24], 2))


def test_error_rate_threshold_quarantines() -> None:
    runner = make_runner("subprocess", max_error_rate=0.01)
    res = runner.apply(specs(["odd", "kw"]), pa.array(TEXTS), cardinality=2, batch_size=50)
    assert res.faults["odd"].quarantined and "raised on" in res.faults["odd"].first_error
    assert (res.matrix[:, 0] == -1).all()
    assert "kw" not in res.faults


def test_argument_errors_are_sandbox_errors() -> None:
    runner = make_runner("subprocess")
    with pytest.raises(SandboxError, match="duplicate"):
        runner.apply(specs(["kw", "kw"]), pa.array(["a"]), cardinality=2)
    with pytest.raises(SandboxError, match="cardinality"):
        runner.apply(specs(["kw"]), pa.array(["a"]), cardinality=1)
    with pytest.raises(SandboxError, match="string"):
        runner.apply(specs(["kw"]), pa.array([1, 2]), cardinality=2)
    with pytest.raises(SandboxError, match="unknown runner"):
        get_runner("chroot")
    with pytest.raises(TypeError, match="unknown sandbox limits"):
        get_runner("subprocess", memroy_mb=1)


def test_dry_run_accepts_good_and_explains_bad() -> None:
    runner = make_runner("subprocess", **FAST)
    assert dry_run(specs(["kw"])[0], ["a", "subscribe"], cardinality=2, runner=runner) is None
    why = dry_run(LabelerSpec("b", "t", "def label_function(text):\n    return 'spam'\n"), ["a"], cardinality=2, runner=runner)
    assert why is not None and "returned str" in why
    why = dry_run(LabelerSpec("c", "t", "import os\ndef label_function(text):\n    return 0\n"), ["a"], cardinality=2, runner=runner)
    assert why is not None and why.startswith("validation:")
    why = dry_run(specs(["odd"])[0], ["1234567", "a"], cardinality=2, runner=runner)
    assert why is not None and "ZeroDivisionError" in why


def test_available_runners_and_default_choice() -> None:
    names = available_runners()
    assert names[-1] == "subprocess"
    assert get_runner(None).name == names[0]


def test_docker_command_carries_every_hardening_flag() -> None:
    cmd = DockerRunner(Limits(memory_mb=300, pids=32), Policy.default()).command("x")
    line = " ".join(cmd)
    for flag in [
        "--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges",
        "--pids-limit 32", "--memory 556m", "--memory-swap 556m", "--cpus",
        "--user 65534:65534", "--ipc none", "--rm", "-i",
    ]:
        assert flag in line, flag
    assert all(v.endswith(":ro") for i, v in enumerate(cmd) if cmd[i - 1] == "-v")
    assert "-e" not in cmd and "--env" not in cmd


def test_bwrap_command_unshares_everything() -> None:
    if not sandbox_runtime().world_readable and os.geteuid() == 0:
        pytest.skip("runtime not readable by a fresh UID")
    cmd = BwrapRunner(Limits(), Policy.default()).command()
    for flag in ["--unshare-all", "--unshare-user", "--die-with-parent", "--clearenv", "--new-session"]:
        assert flag in cmd
    assert cmd[cmd.index("--remount-ro") + 1] == "/"
    if os.geteuid() == 0:
        assert cmd[0].endswith("setpriv") and "--no-new-privs" in cmd


def test_worker_start_does_not_import_pandas() -> None:
    rt = sandbox_runtime()
    code = (
        f"import sys; sys.argv=['w', *{rt.site_dirs!r}]; sys.path[:0]=[{rt.worker_dir!r}, *{rt.site_dirs!r}];"
        "import runpy; m = runpy.run_path(sys.path[0] + '/worker.py', run_name='not_main');"
        "m['_arrow_labels'](b'\\x01\\x00', 2); print('pandas' in sys.modules)"
    )
    out = subprocess.run([rt.python, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, env={})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_protocol_frames_round_trip() -> None:
    msg = P.message(P.LABELS, {"id": "a", "batch": 3}, b"body")
    buf = io.BytesIO(P.frame(msg) + P.frame(P.END))
    got = P.read_frame(buf)
    assert got is not None
    tag, head, body = P.parse_message(got)
    assert (tag, head, bytes(body)) == (P.LABELS, {"id": "a", "batch": 3}, b"body")
    assert P.read_frame(buf) == P.END
    assert P.read_frame(buf) is None
    with pytest.raises(P.ProtocolError):
        P.read_frame(io.BytesIO(P.frame(b"abc")[:-1]))
    with pytest.raises(P.ProtocolError):
        P.parse_message(b"L\xff\x00\x00\x00{}")
    nested = b"[" * 100_000  # a compromised worker must not crash the host's JSON parser
    with pytest.raises(P.ProtocolError):
        P.parse_message(b"L" + len(nested).to_bytes(4, "little") + nested)


def test_channel_deadline_and_flood() -> None:
    # A real child process that never answers, then one that floods stderr.
    quiet = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    flood = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('x' * 300000); sys.stderr.flush(); import time; time.sleep(30)"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert quiet.stdin and quiet.stdout and quiet.stderr
        ch = P.Channel(quiet.stdin.fileno(), quiet.stdout.fileno(), quiet.stderr.fileno())
        import time

        with pytest.raises(P.Deadline):
            ch.recv(time.monotonic() + 0.3)
        assert flood.stdin and flood.stdout and flood.stderr
        ch2 = P.Channel(flood.stdin.fileno(), flood.stdout.fileno(), flood.stderr.fileno(), stderr_cap=1000)
        with pytest.raises(P.OutputFlood):
            ch2.recv(time.monotonic() + 20)
    finally:
        quiet.kill()
        flood.kill()
        quiet.wait()
        flood.wait()


@pytest.mark.docker
def test_docker_memory_limit_is_a_cgroup_kill() -> None:
    # RLIMIT_AS is disabled (memory_mb=0 in the worker), so only the container's
    # cgroup stops the hog: the worker is OOM-killed and the labeler quarantined.
    runner = make_runner("docker", **FAST)
    runner.limits = dataclasses.replace(runner.limits, memory_mb=64)
    runner.worker_limits = lambda: {"nofile": 32}  # type: ignore[method-assign]
    hog = LabelerSpec("hog", "t", "def label_function(text):\n    h = []\n    while True:\n        h.append(bytes(10 ** 6))\n")
    res = runner.apply([hog, specs(["kw"])[0]], pa.array(TEXTS[:10]), cardinality=2)
    assert res.faults["hog"].quarantined
    assert "died" in res.faults["hog"].first_error or "timeout" in res.faults["hog"].first_error
    np.testing.assert_array_equal(res.matrix[:, 1], in_process(PROGRAMS["kw"], TEXTS[:10], 2))


FAKE_WORKER = """
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import protocol as P
inp, out = sys.stdin.buffer, sys.stdout.buffer
def send(b):
    out.write(P.frame(b)); out.flush()
_, setup, _ = P.parse_message(P.read_frame(inp))
send(P.READY)
for p in setup["programs"]:
    send(P.message(P.HELLO, {"id": p["id"], "error": None}))
mode = sys.argv[2]
while True:
    f = P.read_frame(inp)
    if f is None or f[:1] == P.END:
        break
    _, head, _ = P.parse_message(f)
    for lid in head["run"]:
        if mode == "garbage":
            send(P.message(P.LABELS, {"id": lid, "batch": head["batch"], "errors": 0}, b"not arrow at all"))
        elif mode == "wrong-id":
            send(P.message(P.LABELS, {"id": "someone-else", "batch": head["batch"], "errors": 0}))
        else:
            send(b"\\x00" * 3)
"""


@pytest.mark.parametrize("mode", ["garbage", "wrong-id", "short"])
def test_a_lying_worker_is_a_protocol_violation_not_a_host_crash(mode: str, tmp_path: Any) -> None:
    from alchemist_engine.sandbox.supervisor import Spawned, Supervisor, kill_group

    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    worker_dir = sandbox_runtime().worker_dir

    def spawn(data: Any) -> Spawned:
        proc = subprocess.Popen([sys.executable, "-I", str(script), worker_dir, mode], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        return Spawned(proc, lambda: kill_group(proc))

    sup = Supervisor("fake", spawn, Limits(batch_timeout=2, workers=1), Policy.default(), {})
    res = sup.apply(specs(["kw"]), pa.array(["a", "b"]), cardinality=2)
    f = res.faults["kw"]
    assert f.quarantined and "protocol violation" in f.first_error, f.first_error
    assert (res.matrix == -1).all()


def test_apply_result_to_dict() -> None:
    r = ApplyResult(matrix=np.zeros((3, 1), np.int8), labeler_ids=["a"], runner="x")
    assert r.to_dict()["rows"] == 3 and r.to_dict()["faults"] == {}

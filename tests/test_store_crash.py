"""Crash safety and concurrency of registry writes, with real processes and SIGKILL."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alchemist_engine.store import LabelerRegistry
from alchemist_engine.store.plumbing import CRASH_ENV

# A writer that commits batches forever (or N times), printing each committed sha.
WRITER = textwrap.dedent(
    """
    import sys
    from alchemist_engine.labelers import LabelerSpec
    from alchemist_engine.store import LabelerRegistry

    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reg = LabelerRegistry.open(path)
    i = 0
    while n < 0 or i < n:
        specs = []
        for j in range(3):
            src = f"def label_function(text):\\n    return 1 if '{tag}{i}x{j}' in text else -1\\n"
            specs.append(LabelerSpec(reg.new_id("youtube", src), "youtube", src, {"i": i}))
        sha = reg.commit(specs, f"{tag} batch {i}")
        print(sha, " ".join(s.id for s in specs), flush=True)
        i += 1
    """
)


def _writer(path: Path, tag: str, n: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    import os

    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), tag, str(n)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )


def _committed(lines: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in lines.splitlines():
        sha, *ids = line.split()
        out.append((sha, ids))
    return out


def _assert_nothing_lost(path: Path, committed: list[tuple[str, list[str]]]) -> None:
    reg = LabelerRegistry.open(path)
    report = reg.fsck()
    assert report.ok, report.problems
    stored = {s.id for s in reg.labelers()}
    history = {c.sha for c in reg.log()}
    for sha, ids in committed:
        assert sha in history, f"committed {sha} vanished from history"
        assert set(ids) <= stored, f"labelers of {sha} lost"
    # And the registry still takes writes.
    p = _writer(path, "after", 1)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err


def test_two_concurrent_writers_both_land(tmp_path: Path) -> None:
    path = tmp_path / "registry"
    LabelerRegistry.open(path)
    a, b = _writer(path, "a", 6), _writer(path, "b", 6)
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, err_a + err_b
    done = _committed(out_a) + _committed(out_b)
    assert len(done) == 12
    reg = LabelerRegistry.open(path)
    assert len(reg.labelers()) == 36
    assert len(reg.log()) == 13  # creation + 12 batches: every write is one commit
    _assert_nothing_lost(path, done)


def test_concurrent_creation(tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    procs = [_writer(path, t, 1) for t in "xyz"]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    reg = LabelerRegistry.open(path)
    assert len(reg.labelers()) == 9 and reg.fsck().ok
    assert not list(tmp_path.glob(".fresh.creating-*"))


@pytest.mark.parametrize(
    "stage", ["after-blobs", "after-commit-object", "before-ref", "after-ref", "after-worktree"]
)
def test_kill_at_each_write_stage(tmp_path: Path, stage: str) -> None:
    path = tmp_path / "registry"
    first = _writer(path, "ok", 2)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    done = _committed(out)
    p = _writer(path, "dead", 1, env={CRASH_ENV: stage})
    out2, _ = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert out2 == "", "the killed writer never reported a commit"
    reg = LabelerRegistry.open(path)
    moved = stage in {"after-ref", "after-worktree"}
    assert (len(reg.labelers()) == 9) == moved, "the ref moves exactly when update-ref ran"
    _assert_nothing_lost(path, done)


def test_kill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "registry"
    LabelerRegistry.open(path)
    rng = random.Random(1234)
    done: list[tuple[str, list[str]]] = []
    for round_ in range(8):
        p = _writer(path, f"r{round_}_", -1)
        time.sleep(rng.uniform(0.3, 1.2))
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate(timeout=60)
        done += _committed(out)
        reg = LabelerRegistry.open(path)
        assert reg.fsck().ok
    assert done, "the writers committed something before being killed"
    _assert_nothing_lost(path, done)

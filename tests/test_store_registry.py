"""LabelerRegistry on real git repositories in tmp dirs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest
from alchemist_engine.labelers import LabelerSpec, RegistryError
from alchemist_engine.store import MARKER, LabelerRegistry, lock_path
from alchemist_engine.store.records import CommitView, LabelerView

KW = 'def label_function(text):\n    return 1 if "subscribe" in text.lower() else -1\n'
KW2 = 'def label_function(text):\n    return 1 if "check out" in text.lower() else -1\n'
LEN = "def label_function(text):\n    return 0 if len(text) < 20 else -1\n"


def spec(reg: LabelerRegistry, src: str, task: str = "youtube", **meta: object) -> LabelerSpec:
    return LabelerSpec(reg.new_id(task, src), task, src, dict(meta))


@pytest.fixture()
def reg(tmp_path: Path) -> LabelerRegistry:
    return LabelerRegistry.open(tmp_path / "registry")


def test_create_marks_and_commits(reg: LabelerRegistry) -> None:
    assert reg.head is not None
    doc = json.loads((reg.path / MARKER).read_text())
    assert doc["schema_version"] == 1
    assert reg.labelers() == []
    assert [c.summary for c in reg.log()] == ["Create labeler registry"]
    assert reg.fsck().ok


def test_commit_writes_verbatim_files_in_one_commit(reg: LabelerRegistry) -> None:
    weird = KW.replace("\n", "\r\n") + "# ünïcode, no final newline"
    a, b = spec(reg, weird, mode="scriptorium", cost_usd=0.01), spec(reg, LEN)
    before = len(reg.log())
    sha = reg.commit([a, b], "Synth run: 2 accepted")
    assert reg.head == sha and len(reg.log()) == before + 1
    stored = git.Repo(reg.path).commit(sha).tree / f"youtube/{a.id}.py"
    assert stored.data_stream.read() == weird.encode()
    meta = json.loads((reg.path / "youtube" / f"{a.id}.json").read_text())
    assert meta["schema_version"] == 1 and meta["enabled"] is True
    assert meta["metadata"] == {"mode": "scriptorium", "cost_usd": 0.01}
    got = {s.id: s for s in reg.labelers()}
    assert got[a.id].source == weird and got[a.id].metadata["mode"] == "scriptorium"
    info = reg.log(limit=1)[0]
    assert info.summary == "Synth run: 2 accepted" and sorted(info.added) == sorted([a.id, b.id])


def test_unchanged_commit_is_skipped(reg: LabelerRegistry) -> None:
    a = spec(reg, KW)
    sha = reg.commit([a], "one")
    assert reg.commit([a], "again") == sha
    assert reg.commit([a], "forced", allow_empty=True) != sha


def test_ids_short_readable_unique(reg: LabelerRegistry) -> None:
    lid = reg.new_id("youtube", KW)
    assert lid.startswith("youtube-subscribe-") and len(lid) <= len("youtube-subscribe-") + 6
    reg.commit([LabelerSpec(lid, "youtube", KW)], "x")
    again = reg.new_id("youtube", KW)  # same program: the stored id is taken
    assert again != lid and again.startswith(lid)
    assert reg.new_id("youtube", KW, taken={again}) not in {lid, again}
    assert reg.new_id("my task!", "x = 1\n").startswith("my-task-")


def test_bad_names_and_metadata_refused(reg: LabelerRegistry) -> None:
    with pytest.raises(RegistryError, match="file name"):
        reg.commit([LabelerSpec("../escape", "youtube", KW)], "x")
    with pytest.raises(RegistryError, match="JSON"):
        reg.commit([LabelerSpec("ok-id", "youtube", KW, {"f": object()})], "x")
    with pytest.raises(RegistryError, match="twice"):
        reg.commit([LabelerSpec("a", "youtube", KW), LabelerSpec("a", "youtube", LEN)], "x")
    reg.commit([LabelerSpec("a", "youtube", KW)], "x")
    with pytest.raises(RegistryError, match="already belongs to task"):
        reg.commit([LabelerSpec("a", "sms", KW)], "x")


def test_diff_tag_rollback_round_trip(reg: LabelerRegistry) -> None:
    a = spec(reg, KW, cost_usd=0.01)
    reg.commit([a], "first")
    v1 = reg.tag("v1")
    assert "v1" in v1.tags
    b = spec(reg, LEN)
    reg.commit([LabelerSpec(a.id, "youtube", KW2, {"cost_usd": 0.02}), b], "second")
    d = reg.diff("v1")
    assert [c.id for c in d.added] == [b.id] and not d.removed
    (ch,) = d.changed
    assert '-    return 1 if "subscribe"' in ch.source_diff
    assert '+    return 1 if "check out"' in ch.source_diff
    assert ch.metadata_delta == {"cost_usd": {"old": 0.01, "new": 0.02}}
    assert reg.diff("v1", stat=True).changed[0].source_diff == ""
    n = len(reg.log())
    rb = reg.rollback("v1")
    assert len(reg.log()) == n + 1, "rollback adds a commit, never rewrites history"
    assert rb.removed == [b.id] and rb.changed == [a.id]
    assert reg.diff("v1").empty
    assert [s.source for s in reg.labelers()] == [KW]
    assert reg.get(a.id, "HEAD~1").source == KW2, "the rolled-back state is still reachable"
    with pytest.raises(RegistryError, match="already exists"):
        reg.tag("v1")
    reg.tag("v1", "HEAD~1", force=True)
    assert reg.resolve("v1") == reg.resolve("HEAD~1")
    with pytest.raises(RegistryError, match="not a valid tag"):
        reg.tag("bad..name")


def test_disable_enable(reg: LabelerRegistry) -> None:
    a, b = spec(reg, KW), spec(reg, LEN)
    reg.commit([a, b], "x")
    info = reg.disable(a.id)
    assert info.changed == [a.id] and info.summary == f"Disable {a.id}"
    assert [s.id for s in reg.labelers()] == [b.id]
    assert {s.id for s in reg.labelers(include_disabled=True)} == {a.id, b.id}
    assert reg.disable(a.id).sha == info.sha, "no-op when already disabled"
    reg.enable(a.id)
    assert len(reg.labelers()) == 2
    with pytest.raises(RegistryError, match="no labeler"):
        reg.disable("nope")


def test_show_labeler_and_commit(reg: LabelerRegistry) -> None:
    a = spec(reg, KW)
    first = reg.commit([a], "first")
    reg.commit([LabelerSpec(a.id, "youtube", KW2)], "second")
    view = reg.show(a.id)
    assert isinstance(view, LabelerView) and view.spec.source == KW2
    assert [c.summary for c in view.history] == ["second", "first"]
    old = reg.show(f"{a.id}@{first[:8]}")
    assert isinstance(old, LabelerView) and old.spec.source == KW
    cv = reg.show(first)
    assert isinstance(cv, CommitView) and [c.id for c in cv.diff.added] == [a.id]
    assert json.dumps(cv.to_dict()) and json.dumps(view.to_dict())
    with pytest.raises(RegistryError, match="neither a labeler id nor a revision"):
        reg.show("nothing-like-this")
    reflog = reg.show("HEAD@{1}")  # an "@" that belongs to a git revision
    assert isinstance(reflog, CommitView) and reflog.commit.sha in {c.sha for c in reg.log()}


def test_filters_and_refs(reg: LabelerRegistry) -> None:
    reg.commit([spec(reg, KW), spec(reg, LEN, task="sms")], "x")
    assert [s.task for s in reg.labelers(task="sms")] == ["sms"]
    assert reg.tasks() == ["sms", "youtube"]
    assert reg.labelers("HEAD~1") == []
    with pytest.raises(RegistryError, match="unknown revision"):
        reg.labelers("v9")


def test_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no labeler registry"):
        LabelerRegistry.open(tmp_path / "nothing", create=False)
    (tmp_path / "empty").mkdir()
    assert LabelerRegistry.open(tmp_path / "empty").head is not None


def test_foreign_folder_and_repo(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    with pytest.raises(RegistryError, match="not a git repository"):
        LabelerRegistry.open(tmp_path / "plain")
    other = tmp_path / "other"
    repo = git.Repo.init(other)
    (other / "README").write_text("someone's project")
    repo.index.add(["README"])
    repo.index.commit("init", author=git.Actor("a", "a@b"), committer=git.Actor("a", "a@b"))
    with pytest.raises(RegistryError, match="not a labeler registry"):
        LabelerRegistry.open(other)
    git.Repo.init(tmp_path / "unborn")
    with pytest.raises(RegistryError, match="no commits"):
        LabelerRegistry.open(tmp_path / "unborn")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RegistryError, match="is a file"):
        LabelerRegistry.open(tmp_path / "afile")


def test_corrupt_registry(reg: LabelerRegistry) -> None:
    reg.commit([spec(reg, KW)], "x")
    head = reg.head
    assert head is not None
    # Destroy the object files: HEAD now names a commit git cannot read.
    objects = reg.path / ".git" / "objects"
    victim = objects / head[:2] / head[2:]
    victim.chmod(0o644)
    victim.write_bytes(b"garbage")
    with pytest.raises(RegistryError, match="corrupt|cannot read"):
        LabelerRegistry.open(reg.path).labelers()
    report = LabelerRegistry.open(reg.path, verify=False).fsck()
    assert not report.ok and any("git fsck" in p or "corrupt" in p for p in report.problems)


def test_newer_schema_refused(reg: LabelerRegistry) -> None:
    (reg.path / MARKER).write_text(json.dumps({"schema_version": 99}))
    r = git.Repo(reg.path)
    r.index.add([MARKER])
    r.index.commit("future")
    with pytest.raises(RegistryError, match="upgrade alchemist-engine"):
        LabelerRegistry.open(reg.path)


def test_fsck_finds_hand_damage_and_repairs_worktree(reg: LabelerRegistry) -> None:
    a = spec(reg, KW)
    reg.commit([a], "x")
    (reg.path / "youtube" / f"{a.id}.py").write_text("edited by hand\n")
    rep = reg.fsck()
    assert not rep.ok and "work tree differs" in rep.problems[0]
    rep = reg.fsck(repair=True)
    assert rep.ok and rep.repaired
    assert (reg.path / "youtube" / f"{a.id}.py").read_text() == KW
    # A hand-made commit whose program no longer matches its content hash.
    (reg.path / "youtube" / f"{a.id}.py").write_text("x = 2\n")
    r = git.Repo(reg.path)
    r.index.add([f"youtube/{a.id}.py"])
    r.index.commit("hand edit")
    fresh = LabelerRegistry.open(reg.path)
    assert any("content_hash" in p for p in fresh.fsck().problems)
    with pytest.raises(RegistryError, match="damaged labelers"):
        fresh.labelers()
    fresh.rollback("HEAD~1")
    assert fresh.fsck().ok and fresh.labelers()[0].source == KW


def test_stale_git_locks_recovered_on_open(reg: LabelerRegistry) -> None:
    reg.commit([spec(reg, KW)], "x")
    gd = reg.path / ".git"
    (gd / "index.lock").write_text("")
    (gd / "refs" / "heads" / "main.lock").write_text("")
    (gd / "refs" / "tags").mkdir(exist_ok=True)
    (gd / "refs" / "tags" / "v1.lock").write_text("")
    again = LabelerRegistry.open(reg.path)
    assert not (gd / "index.lock").exists() and not (gd / "refs" / "tags" / "v1.lock").exists()
    assert again.fsck().ok
    again.commit([spec(again, LEN)], "works after recovery")
    again.tag("v1")


def test_lock_is_held_during_writes(reg: LabelerRegistry) -> None:
    # Another process holds the lock: a writer with a short timeout gives up with a clear error.
    holder = subprocess.Popen(
        ["python", "-c",
         "import fcntl,sys,time; f=open(sys.argv[1],'w'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); time.sleep(30)", str(lock_path(reg.path))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        slow = LabelerRegistry.open(reg.path, lock_timeout_s=0.3)
        with pytest.raises(RegistryError, match="locked by another process"):
            slow.commit([spec(slow, KW)], "x")
        assert slow.labelers() == [], "reads never need the lock"
    finally:
        holder.kill()
        holder.wait()
    slow.commit([spec(slow, KW)], "x")


def test_labeler_row_reads_synth_metadata() -> None:
    from alchemist_engine.store import labeler_row

    s = LabelerSpec("a", "youtube", KW, {"mode": "alchemist", "model": "gpt-4o", "cost_usd": 0.002,
                                        "dev_after": {"coverage": 0.25, "accuracy": 0.9}})
    row = labeler_row(s)
    assert (row["mode"], row["model"], row["cost_usd"], row["coverage"]) == (
        "alchemist", "gpt-4o", 0.002, 0.25)
    assert labeler_row(LabelerSpec("b", "youtube", KW))["coverage"] is None


def test_fsck_finishes_a_dead_writers_cleanup(reg: LabelerRegistry) -> None:
    gd = reg.path / ".git"
    (gd / "index.lock").write_text("")
    rep = reg.fsck()
    assert rep.ok and rep.repaired == ["removed stale .git/index.lock"]


def test_lock_survives_in_children_of_a_killed_holder(tmp_path: Path) -> None:
    """Why git children inherit the lock: an orphaned git keeps the registry locked."""
    from alchemist_engine.store import RegistryLock

    lock = RegistryLock(tmp_path / "l.lock", timeout_s=0.2)
    lock.acquire()
    assert lock.fd is not None
    child = subprocess.Popen(["sleep", "30"], pass_fds=(lock.fd,))
    try:
        import os

        os.close(lock.fd)  # the holder is gone; only the child still has the descriptor
        lock._fd = None
        assert not RegistryLock(tmp_path / "l.lock").acquire(blocking=False)
    finally:
        child.kill()
        child.wait()
    assert RegistryLock(tmp_path / "l.lock").acquire(blocking=False)


def test_user_git_config_does_not_leak_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A global config that signs commits, runs hooks and shows signatures changes nothing."""
    home = tmp_path / "home"
    (home / "hooks").mkdir(parents=True)
    (home / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 1\n")
    (home / ".gitconfig").write_text(
        "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /bin/false\n"
        f"[core]\n\thooksPath = {home / 'hooks'}\n\tautocrlf = true\n"
        "[log]\n\tshowSignature = true\n[user]\n\tname = Someone Else\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))  # must not redirect us
    reg = LabelerRegistry.open(tmp_path / "registry")
    sha = reg.commit([LabelerSpec("a", "youtube", KW.replace("\n", "\r\n"))], "x")
    assert reg.get("a").source == KW.replace("\n", "\r\n")
    info = reg.log(limit=1)[0]
    assert info.sha == sha and info.author == "alchemist-engine" and info.added == ["a"]
    assert reg.fsck().ok

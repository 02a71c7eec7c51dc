"""The registry through the command line: import, diff, tag, rollback, apply --ref offline."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from alchemist_engine.cli import cli
from alchemist_engine.store import LabelerRegistry
from click.testing import CliRunner

LF_KEYWORDS = (
    "'''\nWrite a labeling function that flags YouTube spam.\n'''\n"
    "# Accumulated tokens used: 812 (prompt) + 240 (completion) = [1052] tokens in total.\n"
    "# Total cost for this inference call: $[0.0008].\n\n"
    "def label_function(text):\n"
    "    for k in ['subscribe', 'check out', 'my channel']:\n"
    "        if k in text.lower():\n"
    "            return 1\n"
    "    return -1\n"
)
LF_URL = (
    "'''\nprompt two\n'''\n\nimport re\n\ndef label_function(text):\n"
    "    return 1 if re.search(r'https?://', text) else -1\n"
)
LF_SHORT = "def label_function(text):\n    return 0 if len(text.split()) < 6 else -1\n"
LF_LATER = "def label_function(text):\n    return 0 if 'song' in text.lower() else -1\n"

WORDS = ["check", "out", "my", "channel", "song", "love", "this", "http://x.co", "great",
         "subscribe", "video", "the", "best", "music", "ever", "visit", "SUBSCRIBE"]


def run(ws: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def stranger_folder(root: Path) -> Path:
    d = root / "Alchemist_Data" / "youtube" / "ScriptoriumWS" / "gpt-3.5-turbo"
    d.mkdir(parents=True)
    (d / "LF1.py").write_text(LF_KEYWORDS)
    (d / "LF2.py").write_text(LF_URL)
    (d / "LF3.py").write_text(LF_SHORT)
    return root / "Alchemist_Data"


def unseen_csv(path: Path, n: int = 300, seed: int = 7) -> Path:
    rng = random.Random(seed)
    rows = ["id,text"]
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        rows.append(f"{i},{text}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_import_list_show_json(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    rep = json.loads(run(ws, "import", str(stranger_folder(tmp_path)), "--task", "youtube", "--json"))
    assert rep["imported"] == 3 and rep["rejected"] == 0 and rep["commit"]
    rows = json.loads(run(ws, "labelers", "--json"))
    assert len(rows) == 3 and {r["mode"] for r in rows} == {"scriptorium"}
    assert {r["model"] for r in rows} == {"gpt-3.5-turbo"}
    assert sorted(r["cost_usd"] for r in rows if r["cost_usd"] is not None) == [0.0008]
    lid = rows[0]["id"]
    shown = json.loads(run(ws, "show", lid, "--json"))
    assert shown["kind"] == "labeler" and "label_function" in shown["source"]
    assert "Import 3 labeler(s)" in run(ws, "show", "HEAD")
    log = json.loads(run(ws, "log", "--json"))
    assert len(log) == 2 and len(log[0]["added"]) == 3
    assert lid in run(ws, "labelers")


def test_rejections_are_listed_and_never_committed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    bad = tmp_path / "bad.py"
    bad.write_text("def label_function(text):\n    return open('/etc/passwd').read()\n")
    out = run(ws, "import", str(bad), "--task", "youtube")
    assert "rejected" in out and "open" in out and "no commit" in out
    assert json.loads(run(ws, "labelers", "--json")) == []


def test_import_with_sample_dry_run(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    crash = tmp_path / "crash.py"
    crash.write_text("def label_function(text):\n    return [0][len(text)]\n")
    out = json.loads(run(ws, "import", str(stranger_folder(tmp_path)), str(crash), "--task",
                         "youtube", "--sample", str(unseen_csv(tmp_path / "s.csv", n=20)),
                         "--runner", "subprocess", "--json"))
    assert (out["imported"], out["rejected"]) == (3, 1)
    assert "dry run" in out["items"][-1]["reasons"][0]


def test_errors_are_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = CliRunner().invoke(cli, ["--workspace", str(ws), "show", "nope"])
    assert result.exit_code == 1 and "neither a labeler id nor a revision" in result.output
    result = CliRunner().invoke(cli, ["--workspace", str(ws), "diff", "v9"])
    assert result.exit_code == 1 and "unknown revision" in result.output
    (tmp_path / "foreign" / "registry").mkdir(parents=True)
    (tmp_path / "foreign" / "registry" / "x").write_text("not ours")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "foreign"), "labelers"])
    assert result.exit_code == 1 and "not a labeler registry" in result.output


def test_disable_enable_fsck(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run(ws, "import", str(stranger_folder(tmp_path)), "--task", "youtube")
    lid = json.loads(run(ws, "labelers", "--json"))[0]["id"]
    run(ws, "disable", lid)
    assert [r["enabled"] for r in json.loads(run(ws, "labelers", "--json")) if r["id"] == lid] == [False]
    assert "enabled: True -> False" in run(ws, "diff", "HEAD~1")
    run(ws, "enable", lid)
    assert json.loads(run(ws, "fsck", "--json"))["ok"] is True
    (ws / "registry" / ".git" / "index.lock").write_text("")
    LabelerRegistry.open(ws / "registry", verify=False)  # open recovers the stale lock
    assert "ok: 3 labelers" in run(ws, "fsck")


def test_export_formats(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run(ws, "import", str(stranger_folder(tmp_path)), "--task", "youtube")
    run(ws, "tag", "v1")
    for fmt in ("snorkel", "alchemist", "python"):
        rep = json.loads(run(ws, "export", "--ref", "v1", "--format", fmt, str(tmp_path / fmt), "--json"))
        assert len(rep["labelers"]) == 3 and all(Path(f).exists() for f in rep["files"])
    assert len(list((tmp_path / "alchemist").glob("LF*.py"))) == 3


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and not k.endswith("_BASE_URL")}
    return env


def _cli(*args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "alchemist_engine.cli", *args]
    if offline:
        cmd = ["unshare", "-n", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_cli_env())


@pytest.mark.slow
def test_done_means_offline_reuse_after_rollback(tmp_path: Path) -> None:
    """Issue 4's Done-means: import a stranger's folder, diff, tag, rollback, apply --ref TAG
    with no network on unseen data: the same label matrix as before the rollback."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to cut the network (unshare -n)")
    ws = tmp_path / "ws"
    data = unseen_csv(tmp_path / "never_seen.csv")
    run(ws, "import", str(stranger_folder(tmp_path)), "--task", "youtube")
    run(ws, "tag", "v1")
    before = tmp_path / "L_before.parquet"
    first = json.loads(run(ws, "apply", "--data", str(data), "--task", "youtube",
                           "--runner", "subprocess", "--out", str(before), "--json"))
    assert first["faults"] == {}, "the stranger's programs run cleanly"
    # A later change, seen in diff, then undone by rollback.
    later = tmp_path / "later.py"
    later.write_text(LF_LATER)
    run(ws, "import", str(later), "--task", "youtube")
    assert json.loads(run(ws, "diff", "v1", "--stat", "--json"))["added"]
    run(ws, "rollback", "v1")
    assert json.loads(run(ws, "diff", "v1", "HEAD", "--json"))["added"] == []
    # Offline: no network namespace, no API keys.
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c",
                            "import socket; socket.create_connection(('1.1.1.1', 443), timeout=2)"],
                           capture_output=True, text=True)
    assert probe.returncode != 0, "the network should be unreachable inside unshare -n"
    after = tmp_path / "L_v1_offline.parquet"
    r = _cli("-w", str(ws), "apply", "--data", str(data), "--task", "youtube", "--ref", "v1",
             "--runner", "subprocess", "--out", str(after), "--json", offline=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["faults"] == {}
    assert pq.read_table(after).equals(pq.read_table(before))
    head = tmp_path / "L_head.parquet"
    run(ws, "apply", "--data", str(data), "--task", "youtube", "--runner", "subprocess",
        "--out", str(head))
    assert pq.read_table(head).equals(pq.read_table(before))
    L = pq.read_table(before).to_pandas().to_numpy()
    assert L.shape == (300, 3) and (L != -1).any(), "the matrix is not all abstains"
    assert json.loads(run(ws, "fsck", "--json"))["ok"]


def test_two_concurrent_cli_imports_both_land(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    folders = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        for i in range(5):
            (d / f"LF{i + 1}.py").write_text(
                f"def label_function(text):\n    return 1 if '{name}{i}' in text else -1\n")
        folders.append(d)
    cmd = [sys.executable, "-m", "alchemist_engine.cli", "-w", str(ws), "import", "--task", "youtube"]
    procs = [subprocess.Popen([*cmd, str(d)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for d in folders]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert len(json.loads(run(ws, "labelers", "--json"))) == 10
    assert len(json.loads(run(ws, "log", "--json"))) == 3
    assert json.loads(run(ws, "fsck", "--json"))["ok"]


def test_kill_9_during_cli_import_is_all_or_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run(ws, "import", str(stranger_folder(tmp_path)), "--task", "youtube")
    rng = random.Random(99)
    expected = 3
    for round_ in range(4):
        d = tmp_path / f"batch{round_}"
        d.mkdir()
        for i in range(30):
            (d / f"LF{i + 1}.py").write_text(
                f"def label_function(text):\n    return 1 if 'r{round_}w{i}' in text else -1\n")
        p = subprocess.Popen([sys.executable, "-m", "alchemist_engine.cli", "-w", str(ws),
                              "import", str(d), "--task", "youtube"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 2.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        report = json.loads(run(ws, "fsck", "--json"))
        assert report["ok"], report["problems"]
        n = len(json.loads(run(ws, "labelers", "--json")))
        assert n in (expected, expected + 30), "an import lands whole or not at all"
        expected = n

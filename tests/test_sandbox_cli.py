"""End to end through the CLI: a stranger's hostile programs are imported and applied.

`alchemist-engine import` rejects what validation refuses; `apply --runner R` contains the
rest and its JSON report names each fault, for R = docker and bwrap (and subprocess).
Also the two sandbox commands, `runners` and `sandbox-image`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from alchemist_engine.cli import cli
from alchemist_engine.labelers import SandboxError
from alchemist_engine.sandbox import ensure_engine, get_runner
from click.testing import CliRunner

HOSTILE = Path(__file__).parent / "hostile"
# Runtime-stage programs that fault without hanging (a hang costs the default 10 s
# deadline here, as the CLI has no limit flags), plus one infinite loop.
RUNTIME = [
    "rt_infinite_loop", "rt_memory_bomb_str", "rt_recursion_bomb", "rt_always_raises",
    "rt_module_level_raise", "rt_return_str", "rt_return_bool", "rt_return_out_of_range",
]
STATIC = ["files_read_secret", "net_socket_loopback", "import_re_enum_sys", "intro_subclasses",
          "format_str_attr", "proc_os_system", "eval_unicode_eval"]
GOOD = "def label_function(text):\n    return 1 if 'check out' in text.lower() else -1\n"


def _need(name: str) -> None:
    try:
        if name == "docker" and os.environ.get("CI"):
            ensure_engine()
        get_runner(name)
    except SandboxError as exc:
        if os.environ.get("CI") and name in ("docker", "bwrap"):
            pytest.fail(f"runner {name} must work in CI: {exc}")
        pytest.skip(f"runner {name} unavailable here: {exc}")


def _invoke(*args: str) -> Any:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.slow
@pytest.mark.parametrize(
    "runner_name",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("bwrap", marks=pytest.mark.bwrap), "subprocess"],
)
def test_hostile_programs_are_rejected_or_contained(runner_name: str, tmp_path: Path) -> None:
    _need(runner_name)
    progs = tmp_path / "programs"
    progs.mkdir()
    for name in RUNTIME + STATIC:
        src = (HOSTILE / f"{name}.py").read_text()
        src = src.replace("SECRET_PATH", str(tmp_path / "nothing")).replace("CANARY_DIR", str(tmp_path))
        (progs / f"{name}.py").write_text(src.replace("CANARY_PORT", "9"))
    (progs / "good_check_out.py").write_text(GOOD)
    data = tmp_path / "comments.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(30):
            w.writerow([f"check out my channel {i}" if i % 2 else f"nice song {i}", i % 2])
    ws = str(tmp_path / "ws")

    imp = _invoke("-w", ws, "import", *sorted(str(p) for p in progs.iterdir()), "--task", "youtube", "--json")
    status = {Path(i["path"]).stem: i for i in imp["items"]}
    for name in STATIC:
        assert status[name]["status"] == "rejected", status[name]
        assert status[name]["reasons"], name
    imported = {n: i["id"] for n, i in status.items() if i["status"] == "imported"}
    assert set(RUNTIME) | {"good_check_out"} <= set(imported)

    rep = _invoke("-w", ws, "apply", "--data", str(data), "--task", "youtube", "--runner", runner_name, "--no-lower", "--json")
    assert rep["runner"] == runner_name
    faults = rep["faults"]
    for name in RUNTIME:
        f = faults.get(imported[name])
        assert f is not None and f["quarantined"], (name, f)
        assert f["first_error"]
    assert re.search("timeout", faults[imported["rt_infinite_loop"]]["first_error"])
    assert "returned bool" in faults[imported["rt_return_bool"]]["first_error"]
    assert imported["good_check_out"] not in faults
    assert rep["coverage"][imported["good_check_out"]] == pytest.approx(0.5)


def test_runners_command_lists_all_three() -> None:
    rows = _invoke("runners", "--json")
    assert [r["name"] for r in rows] == ["docker", "bwrap", "subprocess"]
    sub = rows[2]
    assert sub["available"] is True and "NO filesystem isolation" in sub["isolation"]
    res = CliRunner().invoke(cli, ["runners"])
    assert res.exit_code == 0 and "bwrap" in res.output


@pytest.mark.docker
def test_sandbox_image_command_is_idempotent() -> None:
    _need("docker")
    for _ in range(2):
        res = CliRunner().invoke(cli, ["sandbox-image"])
        assert res.exit_code == 0, res.output
        assert "alchemist-sandbox:1" in res.output

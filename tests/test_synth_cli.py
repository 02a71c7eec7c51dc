"""The synth / cost / annotate commands, including the issue's Done-means runs against
the fake server (OpenAI with 429s and 500s; Anthropic, scriptorium)."""

from __future__ import annotations

import csv
import json
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from alchemist_engine.cli import cli  # noqa: E402
from alchemist_engine.engine.cost import PriceTable  # noqa: E402
from alchemist_engine.engine.data import load_dataset  # noqa: E402
from alchemist_engine.labelers import get_task  # noqa: E402
from fakeserver import FakeLLMServer  # noqa: E402

ROWS = [
    ("Subscribe to my channel please!", 1), ("check out my channel http://x.co", 1),
    ("This song is the best", 0), ("2015 anyone still listening?", 0),
    ("follow me on twitter", 1), ("I love this video", 0), ("win a free gift card", 1),
    ("beautiful voice", 0),
] * 3
CANARY = "sk-canary-0f1e2d3c4b5a69788796a5b4"
FAULTS = ["429:0", "ok", "500", "ok", "ok", "429:0", "ok", "500", "ok"]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    f = tmp_path / "comments.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(ROWS)
    return f


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)


def _run(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    return res.exit_code, res.output


@pytest.mark.parametrize("provider,mode,path", [
    ("openai", ["--mode", "alchemist", "--prior", "heuristics"], "/v1"),
    ("anthropic", ["--mode", "scriptorium"], ""),
])
def test_done_means_runs(tmp_path: Path, data: Path, provider: str, mode: list[str], path: str) -> None:
    ws = tmp_path / "W"
    with FakeLLMServer(script=FAULTS) as srv:
        code, output = _run(["--workspace", str(ws), "synth", "--task", "youtube", "--data", str(data),
                             *mode, "--provider", provider, "--base-url", srv.base_url + path,
                             "--model", "gpt-3.5-turbo", "-n", "10", "--runner", "subprocess", "--json"])
        statuses = [r["action"] for r in srv.requests]
    assert code == 0, output
    d = json.loads(output)
    assert {"accepted", "rejected", "input_tokens", "output_tokens", "cost_usd", "commit"} <= set(d)
    assert "429:0" in statuses and "500" in statuses  # the faults were really served
    assert 1 <= len(d["accepted"]) <= 10 and len(d["accepted"]) + len(
        {r["sample"] for r in d["rejected"]}) == 10
    assert all(r["reason"] for r in d["rejected"])
    assert any("os" in r["reason"] for r in d["rejected"])  # the fake's bad program was refused
    price = PriceTable.load().cost("gpt-3.5-turbo", d["input_tokens"], d["output_tokens"])
    assert d["cost_usd"] == pytest.approx(price) and d["cost_usd"] > 0
    code, shown = _run(["--workspace", str(ws), "labelers", "--task", "youtube", "--json"])
    assert code == 0 and all(a["id"] in shown for a in d["accepted"])
    code, out = _run(["--workspace", str(ws), "cost", "--json"])
    spend = json.loads(out)["spend"]
    assert [(s["task"], s["mode"], s["runs"]) for s in spend] == [("youtube", mode[1], 1)]
    assert spend[0]["cost_usd"] == pytest.approx(d["cost_usd"])
    # the key reached the server, and nothing the workspace wrote (registry incl. git
    # objects, ledger, caches)
    assert any(CANARY in json.dumps(r["headers"]) for r in srv.requests)
    for f in ws.rglob("*"):
        if f.is_file():
            data_bytes = f.read_bytes()
            assert CANARY.encode() not in data_bytes, f
            if f.suffix == "" and "objects" in f.parts:  # zlib-compressed git objects
                try:
                    assert CANARY.encode() not in zlib.decompress(data_bytes), f
                except zlib.error:
                    pass


def test_human_readable_output(tmp_path: Path, data: Path) -> None:
    ws = tmp_path / "W"
    with FakeLLMServer() as srv:
        code, output = _run(["--workspace", str(ws), "synth", "--task", "youtube", "--data", str(data),
                             "--provider", "openai", "--base-url", srv.base_url + "/v1", "-n", "6",
                             "--runner", "subprocess"])
        assert code == 0, output
        assert "5 accepted, 1 rejected" in output and "validate" in output
        code, output = _run(["--workspace", str(ws), "annotate", "--data", str(data), "--task", "youtube",
                             "--provider", "openai", "--base-url", srv.base_url + "/v1", "--max-rows", "4"])
        assert code == 0 and "4 rows labelled by gpt-3.5-turbo" in output
    code, output = _run(["--workspace", str(ws), "cost", "--task", "youtube", "--data", str(data)])
    assert code == 0 and "total: $" in output and f"direct annotation of {len(ROWS)} rows" in output
    code, output = _run(["--workspace", str(ws), "synth", "--task", "youtube", "-n", "1", "--print-prompts"])
    assert code == 0 and "def label_function(text):" in output


def test_failure_exits_nonzero_but_commits_received_programs(tmp_path: Path, data: Path) -> None:
    ws = tmp_path / "W"
    with FakeLLMServer(script=["ok", "ok"], default="401") as srv:
        code, output = _run(["--workspace", str(ws), "synth", "--task", "youtube", "--data", str(data),
                             "--provider", "openai", "--base-url", srv.base_url + "/v1", "-n", "4",
                             "--runner", "subprocess", "--json"])
    assert code == 1
    assert "refused the key" in output and "2 accepted programs committed" in output
    code, shown = _run(["--workspace", str(ws), "labelers", "--json"])
    assert len(json.loads(shown)) == 2


def test_print_prompts_makes_no_call(tmp_path: Path) -> None:
    code, output = _run(["--workspace", str(tmp_path), "synth", "--task", "sms", "--mode", "alchemist",
                         "--prior", "keywords", "-n", "2", "--print-prompts", "--json"])
    assert code == 0
    calls = json.loads(output)
    assert [c["kind"] for c in calls] == ["prior", "code", "code"]
    assert "SMS" in calls[0]["messages"][1]["content"]


def test_replay_cli_with_recordings_and_missing_recording(tmp_path: Path, data: Path) -> None:
    from alchemist_engine.engine.synth import write_recordings

    prog = "```python\ndef label_function(text):\n    return 1 if 'subscribe' in text.lower() else -1\n```"
    rec = write_recordings(tmp_path / "rec.json", get_task("youtube"), [prog], model="gpt-3.5-turbo")
    args = ["--workspace", str(tmp_path / "W"), "synth", "--task", "youtube", "--data", str(data),
            "--provider", "replay", "--recordings", str(rec), "--runner", "subprocess", "--json"]
    code, output = _run([*args, "-n", "1"])
    assert code == 0 and len(json.loads(output)["accepted"]) == 1
    code, output = _run([*args, "-n", "2"])
    assert code == 1 and "no recording for key" in output


def test_annotate_then_refine_with_the_annotations_as_dev_set(tmp_path: Path, data: Path) -> None:
    ws = tmp_path / "W"
    out = tmp_path / "ann.jsonl"
    with FakeLLMServer(script=["429:0"]) as srv:
        code, output = _run(["--workspace", str(ws), "annotate", "--data", str(data), "--task", "youtube",
                             "--provider", "openai", "--base-url", srv.base_url + "/v1",
                             "--model", "gpt-4o-mini", "--max-rows", "8", "--out", str(out), "--json"])
    assert code == 0, output
    d = json.loads(output)
    assert d["rows"] == 8 and d["parsed"] == 8 and d["accuracy"] == 1.0
    assert d["cost_usd"] == pytest.approx(PriceTable.load().cost("gpt-4o-mini", d["input_tokens"], d["output_tokens"]))
    dev = load_dataset(out, task=get_task("youtube"))
    assert dev.num_rows == 8 and dev["label"].to_pylist() == [y for _, y in ROWS[:8]]
    # a labeler to refine, from a synth run
    with FakeLLMServer() as srv:
        base = ["--workspace", str(ws), "synth", "--task", "youtube", "--provider", "openai",
                "--base-url", srv.base_url + "/v1", "--runner", "subprocess", "--json"]
        code, output = _run([*base, "--data", str(data), "-n", "1"])
        parent = json.loads(output)["accepted"][0]["id"]
        code, output = _run([*base, "--refine", parent, "--dev", str(out)])
    assert code == 0, output
    child = json.loads(output)["accepted"][0]["id"]
    code, shown = _run(["--workspace", str(ws), "show", child, "--json"])
    assert parent in shown
    code, out_cost = _run(["--workspace", str(ws), "cost", "--task", "youtube", "--data", str(data), "--json"])
    rep = json.loads(out_cost)
    assert {s["kind"] for s in rep["spend"]} == {"annotate", "synth", "refine"}
    assert rep["direct_annotation"]["rows"] == len(ROWS)


def test_record_then_replay_reproduces_the_run(tmp_path: Path, data: Path) -> None:
    rec = tmp_path / "rec.json"
    common = ["synth", "--task", "youtube", "--data", str(data), "--mode", "alchemist", "--prior", "all",
              "--model", "gpt-4o-mini", "-n", "5", "--runner", "subprocess", "--json"]
    with FakeLLMServer(script=["500", "429:0"]) as srv:
        code, live = _run(["--workspace", str(tmp_path / "A"), *common, "--provider", "record",
                           "--record-provider", "openai", "--base-url", srv.base_url + "/v1",
                           "--recordings", str(rec)])
    assert code == 0, live
    code, again = _run(["--workspace", str(tmp_path / "B"), *common, "--provider", "replay",
                        "--recordings", str(rec)])
    assert code == 0, again
    a, b = json.loads(live), json.loads(again)
    assert [x["source"] for x in a["accepted"]] == [x["source"] for x in b["accepted"]]
    assert (a["input_tokens"], a["output_tokens"], a["cost_usd"]) == (
        b["input_tokens"], b["output_tokens"], b["cost_usd"])
    assert CANARY not in rec.read_text()

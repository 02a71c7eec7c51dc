"""The offline demo end to end: real registry, real sandbox, real label models, real MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alchemist_engine.cli import cli
from alchemist_engine.engine.demo import ASSETS, DEMO_RECORDINGS, run_demo
from alchemist_engine.engine.workspace import Workspace
from click.testing import CliRunner

BUNDLED = ASSETS / "datasets" / "youtube"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for the module: its cache keeps the MiniLM embeddings between demo runs."""
    return tmp_path_factory.mktemp("demo-ws")


@pytest.mark.slow
def test_demo_json_reports_every_stage(root: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--workspace", str(root), "demo", "--data", str(BUNDLED), "--seeds", "2",
              "--runner", "subprocess", "--json"],
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert len(d["accepted"]) >= 8
    reasons = " ".join(r["reason"] for r in d["rejected"])
    # the recordings hold an `import os`, a syntax error, a string return and a duplicate
    assert "os" in reasons and "syntax" in reasons.lower()
    assert "duplicate" in reasons.lower()
    assert any("str" in r["reason"] or "return" in r["reason"] for r in d["rejected"])
    for m in d["label_model_test"].values():
        assert 0.5 < m["accuracy"] <= 1.0
    em = d["end_model_test"]
    assert 0.5 < em["accuracy_mean"] <= 1.0 and em["accuracy_std"] >= 0.0
    assert d["input_tokens"] > 0 and d["output_tokens"] > 0 and d["cost_usd"] > 0
    # direct annotation of every training row costs far more than writing the programs
    assert d["direct_annotation"]["cost_usd"] > 10 * d["cost_usd"]
    assert 0 < d["train_coverage"] <= 1
    # the demo's registry is a real one: the CLI can read it back
    ws = Workspace(root / "demo")
    assert {lf.id for lf in ws.registry.labelers(task="youtube")} == {a["id"] for a in d["accepted"]}


@pytest.mark.slow
def test_demo_numbers_are_computed_from_the_recordings(root: Path, tmp_path: Path) -> None:
    """Change one recorded reply and the accepted set, coverage and accuracy move with it."""
    doc = json.loads(DEMO_RECORDINGS.read_text())
    for rec in doc["recordings"].values():
        if "my channel" in rec["text"]:
            rec["text"] = "```python\ndef label_function(text):\n    return 0\n```"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    kwargs = {"data": BUNDLED, "seeds": 1, "runner": "subprocess"}
    ws = Workspace(root)  # the cache already holds this data's embeddings
    base = run_demo(ws, **kwargs).to_dict()  # type: ignore[arg-type]
    other = run_demo(ws, recordings=changed, **kwargs).to_dict()  # type: ignore[arg-type]
    assert other["train_coverage"] == 1.0 != base["train_coverage"]
    assert other["label_model_test"]["mv"] != base["label_model_test"]["mv"]

"""The label / analyze / predict commands end to end, through click, on the real WRENCH data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from alchemist_engine.cli import cli
from click.testing import CliRunner

DATASETS = Path(
    os.environ.get(
        "ALCHEMIST_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
)
YOUTUBE = DATASETS / "youtube"
pytestmark = pytest.mark.skipif(not YOUTUBE.exists(), reason="shared datasets absent")


def invoke(tmp_path: Path, *args: str) -> dict:
    res = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), *args],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.output))


def test_label_majority_vote_reproduces_wrench(tmp_path: Path) -> None:
    d = invoke(tmp_path, "label", "--data", str(YOUTUBE), "--dataset-votes", "--label-model", "mv",
               "--end-model", "none", "--json")
    assert d["label_model_test"]["accuracy"] == pytest.approx(0.840)
    assert d["train_coverage"] == pytest.approx(0.877)
    assert d["end_model_test"] is None and len(d["labelers"]) == 10


def test_label_save_and_predict_round_trip(tmp_path: Path) -> None:
    model = tmp_path / "model"
    d = invoke(tmp_path, "label", "--data", str(YOUTUBE), "--dataset-votes", "--label-model", "auto",
               "--end-model", "lr", "--features", "tfidf", "--seeds", "2", "--epochs", "5", "--select",
               "--save-model", str(model), "--json")
    assert d["label_model"] in {"mv", "wmv", "ds", "snorkel", "fs"}  # what auto chose
    em = d["end_model_test"]
    assert set(em) >= {"accuracy_mean", "accuracy_std", "f1_mean", "f1_std"}
    assert em["accuracy_mean"] > 0.8
    assert "selection" in d and d["model_dir"] == str(model)
    p = invoke(tmp_path, "predict", "--model", str(model), "--data", str(YOUTUBE / "test.json"),
               "--json")
    assert p["rows"] == 250 and len(p["predictions"]) == 250
    # the seed-0 model saved is the seed-0 model scored: same test accuracy
    assert p["test"]["accuracy"] == pytest.approx(em["runs"][0]["accuracy"])
    assert p["predictions"][0]["label"] in (0, 1)


def test_analyze_reports_lfanalysis_columns(tmp_path: Path) -> None:
    d = invoke(tmp_path, "analyze", "--data", str(YOUTUBE), "--split", "valid", "--dataset-votes",
               "--json")
    assert d["rows"] == 120 and d["labelers"] == 10
    assert d["label_coverage"] == pytest.approx(0.875)
    row = d["summary"][0]
    assert set(row) >= {"name", "polarity", "coverage", "overlaps", "conflicts", "emp_acc"}


def test_label_rejects_ref_with_dataset_votes(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "label", "--data",
                                   str(YOUTUBE), "--dataset-votes", "--ref", "HEAD"])
    assert res.exit_code != 0 and "not both" in res.output

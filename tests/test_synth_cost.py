"""Price table, budget bound, spend ledger and robust parsing of annotation answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alchemist_engine.engine.annotate import parse_label
from alchemist_engine.engine.cost import (
    Budget,
    PriceTable,
    append_spend,
    estimate_direct_annotation,
    input_token_bound,
    read_spend,
    spend_report,
)
from alchemist_engine.labelers import BudgetExceeded, ProviderError, get_task


def test_bundled_prices_and_dated_snapshots() -> None:
    t = PriceTable.load()
    assert t.cost("gpt-3.5-turbo", 1_000_000, 1_000_000) == pytest.approx(2.0)
    assert t.lookup("gpt-4o-2024-08-06").model == "gpt-4o"  # type: ignore[union-attr]
    assert t.lookup("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert t.lookup("claude-3-5-sonnet-20241022").model == "claude-3-5-sonnet"  # type: ignore[union-attr]
    assert t.lookup("my-local-llama") is None and t.cost("my-local-llama", 10, 10) is None


def test_user_file_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"models": {"gpt-3.5-turbo": {"input": 1, "output": 1},
                                        "my-llama": {"input": 0.1, "output": 0.2}}}))
    t = PriceTable.load(f)
    assert t.cost("gpt-3.5-turbo", 10**6, 0) == pytest.approx(1.0)
    assert t.cost("my-llama", 10**6, 10**6) == pytest.approx(0.3)
    monkeypatch.setenv("ALCHEMIST_PRICES", str(f))
    assert PriceTable.load().cost("my-llama", 10**6, 0) == pytest.approx(0.1)
    f.write_text(json.dumps({"models": {"x": {"input": "cheap"}}}))
    with pytest.raises(ProviderError, match="needs numeric"):
        PriceTable.load(f)


def test_input_bound_is_never_below_bytes() -> None:
    msgs = [{"role": "user", "content": "héllo wörld " * 50}]
    assert input_token_bound(msgs) >= len(msgs[0]["content"].encode())


def test_budget_refuses_a_call_that_could_exceed() -> None:
    b = Budget(0.001, PriceTable.load())
    msgs = [{"role": "user", "content": "x" * 100}]
    worst = b.check("gpt-3.5-turbo", msgs, 100)
    assert worst == pytest.approx(((100 + 8 + 8) * 0.5 + 100 * 1.5) / 1e6)
    b.add(0.00099)
    with pytest.raises(BudgetExceeded, match="--budget-usd"):
        b.check("gpt-3.5-turbo", msgs, 100)
    with pytest.raises(ProviderError, match="no price for model"):
        Budget(1.0, PriceTable.load()).check("my-local-llama", msgs, 100)
    assert Budget(None, PriceTable.load()).check("my-local-llama", msgs, 100) == 0.0


def test_ledger_groups_by_kind_task_mode_model(tmp_path: Path) -> None:
    led = tmp_path / "spend.jsonl"
    for mode, cost in [("scriptorium", 0.5), ("scriptorium", 0.25), ("alchemist", 1.0)]:
        append_spend(led, {"kind": "synth", "task": "sms", "mode": mode, "model": "m", "calls": 2,
                           "input_tokens": 10, "output_tokens": 5, "cost_usd": cost, "accepted": 1})
    with led.open("a") as fh:
        fh.write('{"torn": ')  # a crash mid-write must not break the report
    rows = spend_report(read_spend(led))
    assert [(r.mode, r.runs, r.cost_usd, r.calls) for r in rows] == [
        ("alchemist", 1, 1.0, 2), ("scriptorium", 2, 0.75, 4)]
    assert spend_report(read_spend(led), task="youtube") == []


def test_direct_annotation_estimate_scales_with_text() -> None:
    task = get_task("youtube")
    short = estimate_direct_annotation(["hi"] * 10, task=task, model="gpt-3.5-turbo")
    long = estimate_direct_annotation(["hi" * 400] * 10, task=task, model="gpt-3.5-turbo")
    assert short.rows == 10 and short.output_tokens == 80
    assert 10 * 199 <= long.input_tokens - short.input_tokens <= 10 * 200  # 798 chars / 4
    assert long.cost_usd is not None and short.cost_usd is not None and long.cost_usd > short.cost_usd


@pytest.mark.parametrize("reply,want", [
    ('{"label": 1}', 1),
    ('```json\n{"label": 0}\n```', 0),
    ('Sure. {"label": "spam"}', 1),
    ("label: ham", 0),
    ("1", 1),
    ("-1", -1),
    ("Spam.", 1),
    ('{"label": 7}', None),
    ("both spam and ham", None),
    ("no idea", None),
    ('{"label": true}', None),
])
def test_parse_label_is_robust(reply: str, want: int | None) -> None:
    assert parse_label(reply, get_task("youtube")) == want

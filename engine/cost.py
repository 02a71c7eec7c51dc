"""Prices, per-call cost, budgets, the spend ledger and the direct-annotation estimate.

Prices live in ``engine/assets/prices.json`` (USD per million tokens); a user JSON
file of the same shape (``--prices FILE`` or ``$ALCHEMIST_PRICES``) overrides entries.
Token counts always come from the API's usage fields; the only estimates are

* the *budget guard* before a call: an upper bound, ``input <= UTF-8 bytes of the
  prompt + per-message overhead`` (a BPE token is at least one byte) and
  ``output <= max_tokens``, so a run checked with it never exceeds ``--budget-usd``;
* the *direct-annotation estimate* (the model labelling every row): input tokens =
  ceil(chars / 4) of the rendered annotation prompt (OpenAI's rule of thumb for
  English), output tokens = :data:`ANNOTATION_OUTPUT_TOKENS` per row.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..labelers import BudgetExceeded, ProviderError, TaskSpec

#: Tokens per chat message the APIs add around content (role markers); generous.
MESSAGE_OVERHEAD_TOKENS = 8
#: Output tokens a direct-annotation answer takes: ``{"label": 1}`` is ~6 tokens.
ANNOTATION_OUTPUT_TOKENS = 8
#: Characters per token for the annotation estimate (documented rule of thumb).
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class Price:
    model: str
    input_per_m: float
    output_per_m: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1e6


class PriceTable:
    """Model name -> :class:`Price`, bundled table plus optional user overrides."""

    def __init__(self, models: dict[str, Price], sources: Sequence[str] = ()) -> None:
        self.models = models
        self.sources = list(sources)

    @classmethod
    def load(cls, override: str | Path | None = None) -> PriceTable:
        ref = resources.files("alchemist_engine.engine") / "assets" / "prices.json"
        models = _parse(json.loads(ref.read_text(encoding="utf-8")), "bundled prices.json")
        sources = ["bundled"]
        path = override or os.environ.get("ALCHEMIST_PRICES")
        if path:
            p = Path(path)
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ProviderError(f"{p}: price file not found") from None
            except json.JSONDecodeError as exc:
                raise ProviderError(f"{p}: price file is not valid JSON: {exc}") from exc
            models.update(_parse(doc, str(p)))
            sources.append(str(p))
        return cls(models, sources)

    def lookup(self, model: str) -> Price | None:
        """Exact name, else the longest entry ``E`` with ``model.startswith(E + '-')``."""
        if model in self.models:
            return self.models[model]
        best = None
        for name, price in self.models.items():
            if model.startswith(name + "-") and (best is None or len(name) > len(best.model)):
                best = price
        return best

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.cost(input_tokens, output_tokens)


def _parse(doc: Any, where: str) -> dict[str, Price]:
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict):
        raise ProviderError(f"{where}: expected {{'models': {{name: {{input, output}}}}}}")
    out = {}
    for name, entry in models.items():
        try:
            out[name] = Price(name, float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError):
            raise ProviderError(
                f"{where}: model {name!r} needs numeric 'input' and 'output' (USD per 1M tokens)"
            ) from None
    return out


def input_token_bound(messages: Iterable[dict[str, str]]) -> int:
    """An upper bound of the prompt's input tokens (see module docstring)."""
    msgs = list(messages)
    return sum(len(m["content"].encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for m in msgs) + 8


class Budget:
    """Dollar guard for one run: refuses a call whose worst case would exceed the limit."""

    def __init__(self, limit_usd: float | None, prices: PriceTable) -> None:
        self.limit_usd = limit_usd
        self.prices = prices
        self.spent_usd = 0.0

    def check(self, model: str, messages: list[dict[str, str]], max_tokens: int,
              reserved: float = 0.0) -> float:
        """The call's worst-case cost; BudgetExceeded if it could take the run over
        (``reserved``: worst cases of calls already in flight)."""
        worst = self.worst(model, messages, max_tokens)
        if worst is None:
            if self.limit_usd is not None:
                raise ProviderError(
                    f"no price for model {model!r}, so --budget-usd cannot be enforced: add it "
                    "to a price file (see docs/synthesis.md 'Prices') and pass --prices FILE"
                )
            return 0.0
        if self.limit_usd is not None and self.spent_usd + reserved + worst > self.limit_usd + 1e-12:
            raise BudgetExceeded(
                f"the next call could cost up to ${worst:.4f}; with ${self.spent_usd + reserved:.4f} spent "
                f"that may exceed --budget-usd {self.limit_usd:g}: raise the budget or lower -n"
            )
        return worst

    def worst(self, model: str, messages: list[dict[str, str]], max_tokens: int) -> float | None:
        """Upper bound of one call's cost (None: no price for ``model``)."""
        price = self.prices.lookup(model)
        return None if price is None else price.cost(input_token_bound(messages), max_tokens)

    def add(self, cost_usd: float | None) -> None:
        self.spent_usd += cost_usd or 0.0


# ---------------------------------------------------------------- ledger


def append_spend(ledger: Path, entry: dict[str, Any]) -> None:
    """One JSON line per synth/annotate run (tokens, dollars, task, mode, model)."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    row = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
    with ledger.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")


def read_spend(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    rows = []
    for line in ledger.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line after a crash: skip it, keep the rest
    return rows


@dataclass
class SpendRow:
    kind: str
    task: str
    mode: str
    model: str
    runs: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    accepted: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def spend_report(rows: Iterable[dict[str, Any]], task: str | None = None) -> list[SpendRow]:
    """Ledger rows grouped by (kind, task, mode, model)."""
    groups: dict[tuple[str, str, str, str], SpendRow] = {}
    for r in rows:
        if task is not None and r.get("task") != task:
            continue
        key = (r.get("kind", "synth"), r.get("task", "?"), r.get("mode", "-"), r.get("model", "?"))
        g = groups.setdefault(key, SpendRow(*key, 0, 0, 0, 0, 0.0, 0))
        g.runs += 1
        g.calls += int(r.get("calls", 0))
        g.input_tokens += int(r.get("input_tokens", 0))
        g.output_tokens += int(r.get("output_tokens", 0))
        g.cost_usd += float(r.get("cost_usd", 0.0))
        g.accepted += int(r.get("accepted", 0))
    return [groups[k] for k in sorted(groups)]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass
class AnnotationEstimate:
    model: str
    rows: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def annotation_estimate(
    prompts: Iterable[list[dict[str, str]]], model: str, prices: PriceTable
) -> AnnotationEstimate:
    """What labelling every row directly would cost (token estimate in module docstring)."""
    rows = tin = 0
    for messages in prompts:
        rows += 1
        tin += sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)
    tout = rows * ANNOTATION_OUTPUT_TOKENS
    return AnnotationEstimate(model, rows, tin, tout, prices.cost(model, tin, tout))


def estimate_direct_annotation(
    texts: Iterable[str],
    *,
    task: TaskSpec,
    model: str,
    prices: PriceTable | None = None,
    mission: str | None = None,
) -> AnnotationEstimate:
    """The direct-annotation estimate for ``texts`` with the annotate prompt of :mod:`annotate`."""
    from . import prompts

    tpl = prompts.template("annotate")
    values = prompts.task_values(task, mission)
    return annotation_estimate(
        (tpl.render(**values, text=t) for t in texts), model, prices or PriceTable.load()
    )


@dataclass
class CostReport:
    """``alchemist-engine cost``: spend by (kind, task, mode, model), plus an optional
    estimate of annotating a dataset directly."""

    rows: list[SpendRow]
    total_usd: float
    total_input_tokens: int
    total_output_tokens: int
    direct_annotation: AnnotationEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "spend": [r.to_dict() for r in self.rows],
            "total_usd": round(self.total_usd, 8),
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
            "direct_annotation": self.direct_annotation.to_dict() if self.direct_annotation else None,
        }


def workspace_cost(
    ws: Any,
    *,
    task: str | None = None,
    data: str | Path | None = None,
    model: str = "gpt-3.5-turbo",
    split: str | None = "train",
    prices: str | Path | None = None,
) -> CostReport:
    """``Workspace.cost``: read the spend ledger; with ``data``, estimate direct annotation."""
    rows = spend_report(read_spend(ws.root / "spend.jsonl"), task=task)
    direct = None
    if data is not None:
        from .data import load_dataset

        spec = ws.task(task, data)
        table = load_dataset(data, task=spec)
        texts = table["text"].to_pylist()
        if split is not None and split in set(table["split"].to_pylist()):
            texts = [t for t, s in zip(texts, table["split"].to_pylist(), strict=True) if s == split]
        direct = estimate_direct_annotation(texts, task=spec, model=model,
                                            prices=PriceTable.load(prices))
    return CostReport(
        rows=rows,
        total_usd=sum(r.cost_usd for r in rows),
        total_input_tokens=sum(r.input_tokens for r in rows),
        total_output_tokens=sum(r.output_tokens for r in rows),
        direct_annotation=direct,
    )

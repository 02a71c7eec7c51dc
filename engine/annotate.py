"""Direct LLM annotation: the baseline the ALCHEmist paper compares against.

The model labels each row itself (one call per row, JSON answer), with its real token
cost from the API's usage fields. Results are written as JSONL (``id``, ``text``,
``label`` = the model's answer, ``gold``, ``split``) so they load back with
``load_dataset`` as labels or as a dev set for ``synth --refine``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..labelers import ABSTAIN, BudgetExceeded, ProviderError, TaskSpec
from . import prompts
from .cost import Budget, PriceTable, append_spend
from .providers import Provider, complete_many

ANNOTATE_MAX_TOKENS = 32

_LABEL_FIELD = re.compile(r'"?(?:label|class|answer)"?\s*[:=]\s*"?(-?\d+|[^",}\n]+)"?', re.I)


def parse_label(reply: str, task: TaskSpec) -> int | None:
    """The class id in a reply, or None. Accepts ``{"label": 1}``, fenced JSON, a class
    name instead of an id (``{"label": "spam"}``), a bare id, or a bare class name."""
    names = {name.lower(): cid for cid, name in task.classes.items()}
    valid = set(task.classes) | {ABSTAIN}

    def coerce(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if value in valid else None
        if isinstance(value, float) and value.is_integer():
            return coerce(int(value))
        if isinstance(value, str):
            v = value.strip().strip("'\"").lower()
            if re.fullmatch(r"-?\d+", v):
                return coerce(int(v))
            return names.get(v)
        return None

    text = reply.strip()
    for candidate in [text, *re.findall(r"\{.*?\}", text, re.S)]:
        try:
            doc = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(doc, dict):
            for key in ("label", "class", "answer", "class_id"):
                if key in doc:
                    got = coerce(doc[key])
                    if got is not None:
                        return got
        else:
            got = coerce(doc)
            if got is not None:
                return got
    m = _LABEL_FIELD.search(text)
    if m:
        got = coerce(m.group(1))
        if got is not None:
            return got
    got = coerce(text)
    if got is not None:
        return got
    found = {cid for name, cid in names.items() if re.search(rf"\b{re.escape(name)}\b", text.lower())}
    return found.pop() if len(found) == 1 else None


@dataclass
class AnnotateResult:
    task: str
    model: str
    provider: str
    rows: int = 0
    parsed: int = 0
    unparsed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    accuracy: float | None = None  # against gold labels where the data has them
    out: str | None = None
    stopped: str | None = None
    error: str | None = None
    labels: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, with_rows: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "labels"}
        d["cost_usd"] = round(self.cost_usd, 8)
        d["cost_per_row_usd"] = round(self.cost_usd / self.rows, 10) if self.rows else None
        if with_rows:
            d["labels"] = self.labels
        return d


def annotate(
    task: TaskSpec,
    table: pa.Table,
    *,
    provider: Provider,
    model: str,
    max_rows: int | None = None,
    budget_usd: float | None = None,
    prices: PriceTable | None = None,
    mission: str | None = None,
    out: Path | None = None,
    ledger: Path | None = None,
    concurrency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> AnnotateResult:
    """Label up to ``max_rows`` rows of ``table`` with the model; call ``i`` uses ``seed=i``.
    ``concurrency`` calls are in flight at once; rows are recorded in order."""
    prices = prices or PriceTable.load()
    budget = Budget(budget_usd, prices)
    tpl = prompts.template("annotate")
    values = prompts.task_values(task, mission)
    pname = getattr(provider, "name", type(provider).__name__)
    res = AnnotateResult(task=task.name, model=model, provider=pname)
    n = table.num_rows if max_rows is None else min(max_rows, table.num_rows)
    ids = table["id"].to_pylist()[:n]
    texts = table["text"].to_pylist()[:n]
    gold = table["label"].to_pylist()[:n]
    splits = table["split"].to_pylist()[:n]
    right = judged = 0
    step = max(1, concurrency)
    try:
        for start in range(0, n, step):
            batch: list[tuple[list[dict[str, str]], str, int]] = []
            reserved = 0.0
            over: BudgetExceeded | None = None
            for i in range(start, min(n, start + step)):
                msgs = tpl.render(**values, text=texts[i])
                try:
                    reserved += budget.check(model, msgs, ANNOTATE_MAX_TOKENS, reserved=reserved)
                except BudgetExceeded as exc:
                    over = exc
                    break
                batch.append((msgs, model, i))
            outcomes = complete_many(provider, batch, temperature=0.0,
                                     max_tokens=ANNOTATE_MAX_TOKENS, concurrency=concurrency)
            failure: ProviderError | None = None
            for (msgs, _, i), done in zip(batch, outcomes, strict=True):
                if isinstance(done, ProviderError):
                    failure = failure or done
                    continue
                if failure is not None:
                    continue  # keep the rows contiguous: stop at the first failed row
                cost = prices.cost(done.model, done.input_tokens, done.output_tokens)
                if cost is None:
                    cost = prices.cost(model, done.input_tokens, done.output_tokens)
                # no usage from the server: the budget counts the call's worst case
                budget.add(budget.worst(model, msgs, ANNOTATE_MAX_TOKENS)
                           if done.usage_estimated else cost)
                res.input_tokens += done.input_tokens
                res.output_tokens += done.output_tokens
                res.cost_usd += cost or 0.0
                label = parse_label(done.text, task)
                res.rows += 1
                if label is None:
                    res.unparsed += 1
                else:
                    res.parsed += 1
                pred = ABSTAIN if label is None else label
                if gold[i] is not None and gold[i] >= 0 and pred != ABSTAIN:
                    judged += 1
                    right += int(pred == gold[i])
                res.labels.append({"id": ids[i], "text": texts[i], "label": pred,
                                   "gold": gold[i], "split": splits[i],
                                   **({"reply": done.text[:200]} if label is None else {})})
                if progress is not None:
                    progress(1)
            if failure is not None:
                raise failure
            if over is not None:
                raise over
    except BudgetExceeded as exc:
        res.stopped = "budget"
        res.error = str(exc)
    except ProviderError as exc:
        res.error = str(exc)
    res.accuracy = right / judged if judged else None
    if out is not None and res.labels:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for row in res.labels:
                fh.write(json.dumps({k: row[k] for k in ("id", "text", "label", "gold", "split")}) + "\n")
        res.out = str(out)
    if ledger is not None and res.rows:
        append_spend(ledger, {
            "kind": "annotate", "task": task.name, "mode": "annotate", "model": model,
            "provider": pname, "calls": res.rows, "input_tokens": res.input_tokens,
            "output_tokens": res.output_tokens, "cost_usd": res.cost_usd, "accepted": 0,
        })
    return res


def workspace_annotate(
    ws: Any,
    *,
    data: str | Path,
    task: str | None,
    provider: str,
    model: str,
    base_url: str | None = None,
    recordings: str | Path | None = None,
    record_provider: str | None = None,
    max_rows: int | None = None,
    split: str | None = None,
    budget_usd: float | None = None,
    out: str | Path | None = None,
    prices: str | Path | None = None,
    concurrency: int = 4,
    progress: Callable[[int], None] | None = None,
) -> AnnotateResult:
    """``Workspace.annotate``; results go to ``out`` (default WORKSPACE/annotations/...)."""
    from .data import load_dataset
    from .providers import get_provider

    spec = ws.task(task, data)
    table = load_dataset(data, task=spec, split=split)
    prov = get_provider(provider, base_url=base_url, recordings=recordings,
                        record_provider=record_provider)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    target = Path(out) if out is not None else ws.root / "annotations" / f"{spec.name}-{safe}.jsonl"
    return annotate(spec, table, provider=prov, model=model, max_rows=max_rows,
                    budget_usd=budget_usd, prices=PriceTable.load(prices), out=target,
                    ledger=ws.root / "spend.jsonl", concurrency=concurrency, progress=progress)

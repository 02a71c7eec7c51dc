"""The offline end-to-end demo: every stage once, on youtube, with no API key.

synth (ScriptoriumWS mode, replay provider) -> extract -> validate -> commit -> apply in
the sandbox -> majority vote and Snorkel's LabelModel -> MLP on MiniLM embeddings ->
metrics and cost, including what annotating every training row directly would cost.
Every figure is computed from the recordings and the data: edit a recorded reply and the
numbers change.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..labelers import DataError, get_task
from .apply import apply_labelers
from .data import load_dataset
from .label import run_label

if TYPE_CHECKING:
    from rich.console import Console

    from .workspace import Workspace

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_RECORDINGS = ASSETS / "recordings" / "youtube_demo.json"
DEMO_MODEL = "gpt-3.5-turbo"


def find_youtube() -> Path:
    """../shared/datasets/youtube when present (next to the checkout or the cwd), else the bundled copy."""
    here = Path(__file__).resolve().parents[1]
    for base in (Path.cwd(), here):
        cand = base.parent / "shared" / "datasets" / "youtube"
        if (cand / "train.json").exists():
            return cand
    bundled = ASSETS / "datasets" / "youtube"
    if not (bundled / "train.json").exists():
        raise DataError(f"{bundled}: the bundled youtube copy is missing; reinstall the package")
    return bundled


@dataclass
class DemoReport:
    data: str
    workspace: str
    runner: str
    accepted: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    commit: str
    coverage: float
    label_models: dict[str, dict[str, float] | None]
    end_model: dict[str, float] | None
    seeds: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    direct_annotation: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "workspace": self.workspace,
            "runner": self.runner,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "commit": self.commit,
            "train_coverage": round(self.coverage, 4),
            "label_model_test": self.label_models,
            "end_model_test": self.end_model,
            "seeds": self.seeds,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "direct_annotation": self.direct_annotation,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def run_demo(
    ws: Workspace,
    *,
    data: str | Path | None = None,
    seeds: int = 3,
    runner: str | None = None,
    recordings: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> DemoReport:
    """Run the demo in a fresh registry under ``WORKSPACE/demo`` (recreated on every run).

    Embeddings go to the outer workspace's content-addressed cache, so a second demo run
    (or a test running it twice) embeds the same texts only once.
    """
    from ..sandbox import get_runner
    from .cost import estimate_direct_annotation
    from .providers import ReplayProvider
    from .synth import synthesize
    from .workspace import Workspace

    say = log or (lambda _m: None)
    timings: dict[str, float] = {}
    task = get_task("youtube")
    path = Path(data) if data is not None else find_youtube()
    demo_root = ws.root / "demo"
    if demo_root.exists():
        shutil.rmtree(demo_root)
    dws = Workspace(demo_root)

    t0 = time.perf_counter()
    table = load_dataset(path, task=task)
    train_texts = [t for t, s in zip(table["text"].to_pylist(), table["split"].to_pylist(), strict=True) if s == "train"]
    run = get_runner(runner)
    say(f"data: {path} ({table.num_rows:,} rows); sandbox runner: {run.name}")

    t = time.perf_counter()
    provider = ReplayProvider(Path(recordings) if recordings else DEMO_RECORDINGS)
    synth = synthesize(
        task, provider=provider, model=DEMO_MODEL, mode="scriptorium", n=len(provider.recordings),  # one call per recorded reply
        sample_texts=train_texts[:200], runner=run, registry=dws.registry,
    )
    timings["synth"] = time.perf_counter() - t
    say(f"synth: {len(synth.accepted)} accepted, {len(synth.rejected)} rejected, commit {synth.commit[:10] if synth.commit else '-'}")

    t = time.perf_counter()
    labelers = dws.registry.labelers(task=task.name)
    applied = apply_labelers(labelers, table, task=task, runner=run)
    timings["apply"] = time.perf_counter() - t
    say(f"apply: {applied.rows:,} rows x {len(applied.labeler_ids)} labelers in {applied.seconds:.2f} s")

    t = time.perf_counter()
    mv = run_label(table, applied.matrix, applied.labeler_ids, task=task, label_model="mv", end_model="none")
    sn = run_label(table, applied.matrix, applied.labeler_ids, task=task, label_model="snorkel",
                   end_model="mlp", features="minilm", seeds=seeds, cache=ws.cache, log=say)
    timings["label"] = time.perf_counter() - t

    direct = estimate_direct_annotation(train_texts, task=task, model=DEMO_MODEL)
    timings["total"] = time.perf_counter() - t0
    cov = applied.coverage()
    return DemoReport(
        data=str(path),
        workspace=str(demo_root),
        runner=applied.runner,
        accepted=[
            {"id": lf.id, "coverage": round(cov.get(lf.id, 0.0), 4),
             "faults": applied.faults.get(lf.id, {}).get("count", 0)}
            for lf in labelers
        ],
        rejected=[r.to_dict() for r in synth.rejected],
        commit=synth.commit or "",
        coverage=sn.train_coverage,
        label_models={"mv": mv.label_model_test, "snorkel": sn.label_model_test},
        end_model=sn.end_model_test,
        seeds=seeds,
        input_tokens=synth.input_tokens,
        output_tokens=synth.output_tokens,
        cost_usd=synth.cost_usd,
        direct_annotation=direct if isinstance(direct, dict) else direct.to_dict(),
        seconds=timings,
    )


def render_demo(report: DemoReport, console: Console) -> None:
    """Human-readable demo output (the --json form carries the same data)."""
    from rich.table import Table

    d = report.to_dict()
    console.rule("alchemist-engine demo: youtube, ScriptoriumWS mode, replayed model replies")
    console.print(f"data {d['data']}  ·  registry commit {d['commit'][:10]}  ·  runner {d['runner']}")
    acc = Table("accepted labeler", "train+valid+test coverage", "faults", title="Labelers")
    for a in d["accepted"]:
        acc.add_row(a["id"], f"{a['coverage']:.1%}", str(a["faults"]))
    console.print(acc)
    if d["rejected"]:
        rej = Table("rejected", "reason", title="Rejected programs")
        for r in d["rejected"]:
            rej.add_row(str(r.get("sample", r.get("id", ""))), str(r.get("reason", "")))
        console.print(rej)
    res = Table("model", "test accuracy", "test F1", title="Results (test split)")
    for name, m in d["label_model_test"].items():
        if m:
            res.add_row(f"label model: {name}", f"{m['accuracy']:.3f}", f"{m['f1']:.3f}")
    em = d["end_model_test"]
    if em:
        res.add_row(
            f"end model: MLP on MiniLM ({d['seeds']} seeds)",
            f"{em['accuracy_mean']:.3f} ± {em['accuracy_std']:.3f}",
            f"{em['f1_mean']:.3f} ± {em['f1_std']:.3f}",
        )
    console.print(res)
    console.print(f"train coverage (rows with >= 1 vote): {d['train_coverage']:.1%}")
    da = d["direct_annotation"]
    console.print(
        f"synthesis cost: {d['input_tokens']:,} input + {d['output_tokens']:,} output tokens = "
        f"${d['cost_usd']:.4f}"
    )
    console.print(
        f"direct annotation of the {da.get('rows', 0):,} training rows with the same model (estimate): "
        f"{da.get('input_tokens', 0):,} + {da.get('output_tokens', 0):,} tokens = ${da.get('cost_usd', 0.0):.4f}"
    )
    console.print(f"wall time: {d['seconds']}")

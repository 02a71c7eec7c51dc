"""The ``alchemist-engine`` command line: thin click commands over :class:`Workspace`.

Each command parses options, makes one library call and renders the result with rich,
or as JSON with ``--json``. Library errors become a one-line message and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .engine.workspace import WORKSPACE_ENV, Workspace, default_root
from .labelers import AlchemistError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
console = Console(stderr=True)
out = Console()


def _ws(ctx: click.Context) -> Workspace:
    ws = ctx.obj
    assert isinstance(ws, Workspace)
    return ws


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


@contextmanager
def _progress(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (rows and rows/s); a no-op when not a terminal or --json."""
    if not enabled or not console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console, transient=True,
    ) as bar:
        tid = bar.add_task(label, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(tid, n)
            t = bar.tasks[0]
            if t.elapsed:
                bar.update(tid, rate=f"{t.completed / t.elapsed:,.0f} rows/s")

        yield advance


class _Group(click.Group):
    """Turns library errors into one-line messages (exit 1) for every command, CliRunner included."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlchemistError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Folder holding the registry and caches [default: ./.alchemist, env {WORKSPACE_ENV}].",
)
@click.option("--task-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML file defining custom tasks (see `alchemist-engine tasks --help`).")
@click.version_option(package_name="alchemist-engine")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, task_file: Path | None) -> None:
    """Sandboxed program synthesis for weak supervision.

    An LLM writes small labeling programs; they are validated, run in a sandbox over
    Arrow batches, versioned in a git registry, and their votes aggregated into
    training labels for a small end model.

    \b
    Example:
        alchemist-engine demo
        alchemist-engine --workspace W apply --data data/youtube --split test
    """
    ctx.obj = Workspace(workspace or default_root(), task_file=task_file)


@cli.command()
def tasks() -> None:
    """List the built-in tasks and their classes.

    Custom tasks come from a TOML file passed as the global --task-file:

    \b
        [tasks.tickets]
        mission = "Route support tickets."
        classes = ["billing", "bug", "other"]

    \b
    Example:
        alchemist-engine tasks
    """
    from .labelers import builtin_tasks, get_task

    table = Table("task", "classes (id: name)", "metric")
    for name in builtin_tasks():
        t = get_task(name)
        table.add_row(name, ", ".join(f"{i}: {c}" for i, c in t.classes.items()), t.metric)
    out.print(table)


@cli.command()
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="WRENCH folder or file, CSV/TSV, JSONL or Parquet.")
@click.option("--task", default=None, help="Task name [default: the data folder's name].")
@click.option("--split", default=None, help="Only this split (train/valid/test).")
@click.option("--ref", default=None, help="Registry revision or tag [default: HEAD].")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner [default: the strongest available].")
@click.option("--no-lower", is_flag=True, help="Interpret every labeler; no numba kernels.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the label matrix as Parquet (one int8 column per labeler).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def apply(ctx: click.Context, data: Path, task: str | None, split: str | None, ref: str | None,
          runner: str | None, no_lower: bool, out_path: Path | None, as_json: bool) -> None:
    """Run stored labelers over a dataset in the sandbox (no API call, no network).

    \b
    Example:
        alchemist-engine apply --data new_comments.csv --task youtube --ref v1 --out L.parquet
    """
    ws = _ws(ctx)
    with _progress("apply", None, enabled=not as_json) as advance:
        report = ws.apply(data, task=task, ref=ref, split=split, runner=runner,
                          lower=not no_lower, out=out_path, progress=advance)
    if as_json:
        _emit_json(report.to_dict())
        return
    d = report.to_dict()
    table = Table("labeler", "coverage", "faults")
    for lid, cov in d["coverage"].items():
        f = d["faults"].get(lid)
        table.add_row(lid, f"{cov:.1%}", f"{f['count']} ({f['first_error']})" if f else "")
    out.print(table)
    out.print(
        f"{d['rows']:,} rows x {d['labelers']} labelers in {d['seconds']:.2f} s "
        f"({d['rows_per_s']:,.0f} rows/s) via {d['runner']}, {d['lowered']} lowered, "
        f"{d['cache_hits']} cache hits"
    )


@cli.command()
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="youtube WRENCH folder [default: ../shared/datasets/youtube, else the bundled copy].")
@click.option("--seeds", default=3, show_default=True, help="End-model seeds (mean ± std).")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner [default: the strongest available].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def demo(ctx: click.Context, data: Path | None, seeds: int, runner: str | None, as_json: bool) -> None:
    """Run every stage offline on youtube, with no API key.

    Replays recorded model replies (ScriptoriumWS mode), validates and commits the
    programs to a fresh registry in WORKSPACE/demo, applies them in the sandbox,
    aggregates votes (majority vote, Snorkel) and distils an MLP on MiniLM embeddings.

    \b
    Example:
        alchemist-engine demo
        alchemist-engine demo --json --seeds 5
    """
    from .engine.demo import render_demo

    report = _ws(ctx).demo(data=data, seeds=seeds, runner=runner, log=None if as_json else console.print)
    if as_json:
        _emit_json(report.to_dict())
    else:
        render_demo(report, out)


# -- aggregation and distillation (issue 7): label, analyze, predict. Each is one
# -- Workspace method of the same name.

_LABEL_MODELS = ["mv", "wmv", "ds", "snorkel", "snorkel-lib", "fs", "auto"]


@cli.command()
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="WRENCH folder (train/valid/test) or a single file.")
@click.option("--task", default=None, help="Task name [default: the data folder's name].")
@click.option("--ref", default=None, help="Registry revision or tag whose labelers vote [default: HEAD].")
@click.option("--dataset-votes", is_flag=True,
              help="Use the dataset's own weak_labels (WRENCH's human-written LFs), not the registry.")
@click.option("--label-model", type=click.Choice(_LABEL_MODELS), default="snorkel", show_default=True,
              help="How votes become probabilistic labels (auto: best on the valid split).")
@click.option("--end-model", type=click.Choice(["mlp", "lr", "none"]), default="mlp", show_default=True,
              help="End model distilled from the probabilistic labels.")
@click.option("--features", default="minilm", show_default=True,
              help="End-model features: minilm | tfidf | column:NAME (a vector column).")
@click.option("--seeds", default=3, show_default=True, help="End-model seeds (mean ± std).")
@click.option("--epochs", type=int, default=None,
              help="End-model training epochs [default: 100; the valid split picks the best].")
@click.option("--select", "select_", is_flag=True,
              help="Drop labelers below --min-accuracy on the valid split, and near-duplicates.")
@click.option("--min-accuracy", default=0.5, show_default=True, help="Accuracy floor for --select.")
@click.option("--save-model", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Save the seed-0 end model (with its featurizer) here, for `predict`.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner for --ref [default: the strongest available].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def label(ctx: click.Context, data: Path, task: str | None, ref: str | None, dataset_votes: bool,
          label_model: str, end_model: str, features: str, seeds: int, epochs: int | None,
          select_: bool,
          min_accuracy: float, save_model: Path | None, device: str, runner: str | None,
          as_json: bool) -> None:
    """Aggregate votes into labels, distil an end model, score both on the test split.

    Scored as WRENCH does: every test row counts, ties broken by Snorkel's rule.

    \b
    Example:
        alchemist-engine label --data ../shared/datasets/youtube --dataset-votes \\
            --label-model mv --end-model none --json
        alchemist-engine label --data data/sms --ref v1 --label-model auto --seeds 5
    """
    if ref is not None and dataset_votes:
        raise click.UsageError("give --ref or --dataset-votes, not both")
    report = _ws(ctx).label(
        data, task=task, ref=ref, dataset_votes=dataset_votes, label_model=label_model,
        end_model=end_model, features=features, seeds=seeds, select=select_,
        min_accuracy=min_accuracy, save_model=save_model, epochs=epochs, device=device,
        runner=runner, log=None if as_json else console.print,
    )
    d = report.to_dict()
    if as_json:
        _emit_json(d)
        return
    table = Table("stage", "model", "accuracy", "F1")
    lm = d["label_model_test"]
    table.add_row("label model", d["label_model"], f"{lm['accuracy']:.4f}" if lm else "-",
                  f"{lm['f1']:.4f}" if lm else "-")
    em = d["end_model_test"]
    if em:
        table.add_row("end model", d["end_model"],
                      f"{em['accuracy_mean']:.4f} ± {em['accuracy_std']:.4f}",
                      f"{em['f1_mean']:.4f} ± {em['f1_std']:.4f}")
    out.print(table)
    out.print(f"{len(d['labelers'])} labelers, train coverage {d['train_coverage']:.1%}")


@cli.command()
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="WRENCH folder or a single file.")
@click.option("--task", default=None, help="Task name [default: the data folder's name].")
@click.option("--split", default=None, help="Only this split [default: all rows].")
@click.option("--ref", default=None, help="Registry revision or tag [default: HEAD].")
@click.option("--dataset-votes", is_flag=True, help="Analyze the dataset's own weak_labels.")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner [default: the strongest available].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def analyze(ctx: click.Context, data: Path, task: str | None, split: str | None, ref: str | None,
            dataset_votes: bool, runner: str | None, as_json: bool) -> None:
    """Per-labeler coverage, overlaps, conflicts, polarity and empirical accuracy.

    Snorkel's LFAnalysis; accuracy uses the rows that carry gold labels.

    \b
    Example:
        alchemist-engine analyze --data ../shared/datasets/youtube --split valid --dataset-votes
    """
    if ref is not None and dataset_votes:
        raise click.UsageError("give --ref or --dataset-votes, not both")
    d = _ws(ctx).analyze(data, task=task, ref=ref, dataset_votes=dataset_votes, split=split,
                         runner=runner)
    if as_json:
        _emit_json(d)
        return
    table = Table("labeler", "polarity", "coverage", "overlaps", "conflicts", "emp. acc")
    for r in d["summary"]:
        acc = r.get("emp_acc")
        table.add_row(r["name"], ",".join(map(str, r["polarity"])), f"{r['coverage']:.1%}",
                      f"{r['overlaps']:.1%}", f"{r['conflicts']:.1%}",
                      "-" if acc is None else f"{acc:.3f}")
    out.print(table)
    out.print(f"{d['rows']:,} rows ({d['split']}), label coverage {d['label_coverage']:.1%}")


@cli.command()
@click.option("--model", "model_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder written by `label --save-model`.")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Rows to predict: WRENCH folder or file, CSV/TSV, JSONL or Parquet.")
@click.option("--task", default=None, help="Task name [default: the model's task].")
@click.option("--split", default=None, help="Only this split.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write predictions as JSONL (id, label, proba).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def predict(ctx: click.Context, model_dir: Path, data: Path, task: str | None, split: str | None,
            out_path: Path | None, device: str, as_json: bool) -> None:
    """Label new rows with a saved end model: no labelers, no API call.

    \b
    Example:
        alchemist-engine predict --model models/youtube --data new_comments.csv --out preds.jsonl
    """
    d = _ws(ctx).predict(model_dir, data, task=task, split=split, out=out_path, device=device)
    if as_json:
        _emit_json(d)
        return
    msg = f"{d['rows']:,} rows predicted with the {d['end_model']} end model"
    if "test" in d:
        msg += f"; accuracy {d['test']['accuracy']:.4f}, F1 {d['test']['f1']:.4f}"
    out.print(msg + (f"; wrote {d['out']}" if "out" in d else ""))
    if "predictions" in d and len(d["predictions"]) <= 20:
        for r in d["predictions"]:
            out.print(f"{r['id']}\t{r['label']}\t{max(r['proba']):.3f}")


# -- registry (issue 4): labelers, show, log, diff, tag, rollback, disable, enable, fsck,
# -- import, export. Each is one Workspace method of the same name.


def _render_commit(info: Any, verb: str) -> None:
    d = info.to_dict()
    tags = f" [{', '.join(d['tags'])}]" if d["tags"] else ""
    out.print(f"{verb} {d['short']}{tags}  {d['summary']}")
    for sign, key in (("+", "added"), ("-", "removed"), ("~", "changed")):
        for lid in d[key]:
            out.print(f"  {sign} {lid}")


def _render_diff(d: dict[str, Any], stat: bool) -> None:
    for key, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
        for c in d[key]:
            out.print(f"{sign} {c['task']}/{c['id']}  (+{c['lines_added']} -{c['lines_removed']})")
            for k, v in c["metadata_delta"].items():
                if key == "changed":
                    out.print(f"    {k}: {v['old']!r} -> {v['new']!r}", markup=False)
            if not stat and c["source_diff"]:
                out.print(c["source_diff"].rstrip("\n"), markup=False, highlight=False)
    if not (d["added"] or d["removed"] or d["changed"]):
        out.print("no labeler changes")


@cli.command()
@click.option("--ref", default=None, help="Registry revision or tag [default: HEAD].")
@click.option("--task", default=None, help="Only this task's labelers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
@click.pass_context
def labelers(ctx: click.Context, ref: str | None, task: str | None, as_json: bool) -> None:
    """List stored labelers with mode, model, cost and dev-set coverage.

    \b
    Example:
        alchemist-engine labelers --task youtube --ref v1
    """
    from rich.table import Column

    from .store import labeler_row

    rows = [labeler_row(s) for s in _ws(ctx).labelers(ref=ref, task=task)]
    if as_json:
        _emit_json(rows)
        return
    table = Table("task", "state", "mode", "model", "cost $", "coverage")
    table.columns.insert(0, Column("id", no_wrap=True))
    for r in rows:
        table.add_row(
            r["id"], r["task"], "enabled" if r["enabled"] else "disabled", r["mode"] or "",
            r["model"] or "", f"{r['cost_usd']:.4f}" if r["cost_usd"] is not None else "",
            f"{r['coverage']:.1%}" if isinstance(r["coverage"], int | float) else "",
        )
    out.print(table)
    out.print(f"{len(rows)} labeler(s)")


@cli.command()
@click.argument("name_or_rev", metavar="LABELER|REV")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, name_or_rev: str, as_json: bool) -> None:
    """Show a labeler (ID or ID@REV: source, metadata, history) or a commit (REV).

    \b
    Example:
        alchemist-engine show youtube-subscribe-3f9a2c
        alchemist-engine show v1
    """
    view = _ws(ctx).show(name_or_rev)
    d = view.to_dict()
    if as_json:
        _emit_json(d)
    elif d["kind"] == "labeler":
        state = "enabled" if d["enabled"] else "disabled"
        out.print(f"[bold]{d['id']}[/bold]  task {d['task']}  {state}  at {d['rev'][:10]}")
        out.print(json.dumps(d["metadata"], indent=2), markup=False, highlight=False)
        out.print(d["source"], markup=False, highlight=False)
        for c in d["history"]:
            out.print(f"  {c['short']}  {c['time']}  {c['summary']}", markup=False)
    else:
        c = d["commit"]
        out.print(f"commit {c['sha']}  {c['time']}  {c['author']}", markup=False)
        out.print(c["message"], markup=False, highlight=False)
        _render_diff(d["diff"], stat=False)


@cli.command()
@click.option("-n", "--limit", type=int, default=None, help="At most this many commits.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def log(ctx: click.Context, limit: int | None, as_json: bool) -> None:
    """The registry's history, newest first (one commit per synth or import run).

    \b
    Example:
        alchemist-engine log -n 10
    """
    from rich.table import Column

    commits = _ws(ctx).log(limit=limit)
    if as_json:
        _emit_json([c.to_dict() for c in commits])
        return
    table = Table("time", "tags", "+", "-", "~", "summary")
    table.columns.insert(0, Column("commit", no_wrap=True))
    for c in commits:
        table.add_row(c.short, c.time[:16].replace("T", " "), ", ".join(c.tags), str(len(c.added)),
                      str(len(c.removed)), str(len(c.changed)), c.summary)
    out.print(table)


@cli.command()
@click.argument("a")
@click.argument("b", required=False)
@click.option("--stat", is_flag=True, help="Only which labelers changed, no source diffs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str | None, stat: bool, as_json: bool) -> None:
    """Labelers added, removed and changed from revision A to B [default: HEAD].

    \b
    Example:
        alchemist-engine diff v1 HEAD
        alchemist-engine diff HEAD~1 --stat
    """
    report = _ws(ctx).diff(a, b, stat=stat)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _render_diff(report.to_dict(), stat)


@cli.command()
@click.argument("name")
@click.argument("rev", required=False)
@click.option("--force", is_flag=True, help="Move the tag if it already exists.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tag(ctx: click.Context, name: str, rev: str | None, force: bool, as_json: bool) -> None:
    """Name a registry revision [default: HEAD], e.g. to apply it later with --ref.

    \b
    Example:
        alchemist-engine tag v1
        alchemist-engine apply --data new.csv --task youtube --ref v1
    """
    info = _ws(ctx).tag(name, rev, force=force)
    if as_json:
        _emit_json({"tag": name, "commit": info.to_dict()})
    else:
        out.print(f"tagged {info.short} as {name}  ({info.summary})", markup=False)


@cli.command()
@click.argument("rev")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rollback(ctx: click.Context, rev: str, as_json: bool) -> None:
    """Restore the labelers of REV as a NEW commit (history is never rewritten).

    \b
    Example:
        alchemist-engine rollback v1
    """
    info = _ws(ctx).rollback(rev)
    if as_json:
        _emit_json(info.to_dict())
    else:
        _render_commit(info, "now at")


@cli.command()
@click.argument("labeler")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def disable(ctx: click.Context, labeler: str, as_json: bool) -> None:
    """Keep a labeler stored but leave it out of apply (a commit).

    \b
    Example:
        alchemist-engine disable youtube-subscribe-3f9a2c
    """
    info = _ws(ctx).disable(labeler)
    if as_json:
        _emit_json(info.to_dict())
    else:
        _render_commit(info, "now at")


@cli.command()
@click.argument("labeler")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def enable(ctx: click.Context, labeler: str, as_json: bool) -> None:
    """Put a disabled labeler back into apply (a commit).

    \b
    Example:
        alchemist-engine enable youtube-subscribe-3f9a2c
    """
    info = _ws(ctx).enable(labeler)
    if as_json:
        _emit_json(info.to_dict())
    else:
        _render_commit(info, "now at")


@cli.command()
@click.option("--repair", is_flag=True,
              help="Clean leftovers of killed writers and reset the work tree to HEAD.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def fsck(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """Check the registry: git objects, every labeler pair, leftovers; exit 1 on problems.

    \b
    Example:
        alchemist-engine fsck
        alchemist-engine fsck --repair
    """
    report = _ws(ctx).fsck(repair=repair)
    if as_json:
        _emit_json(report.to_dict())
    else:
        for r in report.repaired:
            out.print(f"repaired: {r}", markup=False)
        for p in report.problems:
            out.print(f"problem: {p}", markup=False)
        head = report.head[:10] if report.head else "-"
        out.print(f"{'ok' if report.ok else 'NOT OK'}: {report.labelers} labelers at {head}")
    if not report.ok:
        ctx.exit(1)


@cli.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--task", required=True, help="Task the programs label (built-in or --task-file).")
@click.option("-m", "--message", default=None, help="Commit message [default: a summary].")
@click.option("--sample", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset to dry-run each program on (first 200 texts) before committing.")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner for --sample [default: the strongest available].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def import_(ctx: click.Context, paths: tuple[Path, ...], task: str, message: str | None,
            sample: Path | None, runner: str | None, as_json: bool) -> None:
    """Import ALCHEmist LF*.py folders and plain .py programs (validated; one commit).

    \b
    Example:
        alchemist-engine import Alchemist_Data/youtube/ScriptoriumWS/gpt-4 --task youtube
        alchemist-engine import my_lf.py other_lf.py --task sms --sample sms.csv --json
    """
    report = _ws(ctx).import_(list(paths), task=task, message=message, sample=sample,
                              runner=runner)
    if as_json:
        _emit_json(report.to_dict())
        return
    for item in report.items:
        if item.status == "imported":
            out.print(f"imported  {item.path} -> {item.id}", markup=False)
        elif item.status == "duplicate":
            out.print(f"duplicate {item.path} (already stored as {item.duplicate_of})", markup=False)
        else:
            out.print(f"rejected  {item.path}: {'; '.join(item.reasons)}", markup=False)
    commit = report.commit[:10] if report.commit else "no commit"
    out.print(f"{len(report.imported)} imported, {len(report.rejected)} rejected, "
              f"{len(report.duplicates)} duplicate ({commit})")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["snorkel", "alchemist", "python"]),
              required=True, help="snorkel module, ALCHEmist LF folder, or plain .py files.")
@click.option("--ref", default=None, help="Registry revision or tag [default: HEAD].")
@click.option("--task", default=None, help="Only this task's labelers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def export(ctx: click.Context, directory: Path, fmt: str, ref: str | None, task: str | None,
           as_json: bool) -> None:
    """Write stored labelers as a Snorkel module, an ALCHEmist folder or .py files.

    \b
    Example:
        alchemist-engine export --ref v1 --format snorkel out/
        alchemist-engine export --format alchemist --task youtube lfs/
    """
    report = _ws(ctx).export(directory, fmt=fmt, ref=ref, task=task)
    if as_json:
        _emit_json(report.to_dict())
    else:
        out.print(f"wrote {len(report.labelers)} labeler(s) as {fmt} to {directory}", markup=False)


_PROVIDERS = ["openai", "anthropic", "replay", "record"]


def _provider_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--provider/--base-url/--model/--recordings/--record-provider/--budget-usd/--prices."""
    for opt in reversed([
        click.option("--provider", type=click.Choice(_PROVIDERS), default="openai", show_default=True,
                     help="LLM provider; keys from OPENAI_API_KEY / ANTHROPIC_API_KEY only."),
        click.option("--base-url", default=None,
                     help="API base URL (any OpenAI-compatible server: vLLM, Ollama, llama.cpp)."),
        click.option("--model", default="gpt-3.5-turbo", show_default=True, help="Model name."),
        click.option("--recordings", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Recordings file for --provider replay (read) or record (written)."),
        click.option("--record-provider", type=click.Choice(["openai", "anthropic"]), default=None,
                     help="The live provider --provider record wraps."),
        click.option("--budget-usd", type=float, default=None,
                     help="Never spend more than this (checked before every call)."),
        click.option("--prices", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="JSON price table overriding the bundled one [env ALCHEMIST_PRICES]."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
                     help="API calls in flight at once."),
    ]):
        f = opt(f)
    return f


@cli.command()
@click.option("--task", default=None, help="Task name [default: the data folder's name].")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset; programs are dry-run on a sample of its train split.")
@click.option("--mode", type=click.Choice(["scriptorium", "alchemist", "alchemist-rag"]),
              default="scriptorium", show_default=True, help="Synthesis mode (ALCHEmist paper).")
@click.option("--prior", type=click.Choice(["heuristics", "keywords", "description", "examples", "all"]),
              default=None, help="Prior-knowledge kind for the alchemist modes [default: all].")
@click.option("--prior-model", default=None, help="Model writing the prior knowledge [default: --model].")
@click.option("--prior-query", default=None, help="Override the prior-knowledge question.")
@click.option("--mission", default=None, help="Override the task's mission statement.")
@click.option("--kb", type=click.Path(exists=True, path_type=Path), default=None,
              help="Documents for alchemist-rag (.txt .md .csv .html .pdf, a folder or a file).")
@click.option("-n", "n", default=5, show_default=True, help="Programs to request.")
@_provider_options
@click.option("--refine", "refine_labeler", default=None, metavar="LABELER",
              help="Improve this stored labeler using --dev; commits a child version.")
@click.option("--dev", type=click.Path(exists=True, path_type=Path), default=None,
              help="Small labeled dev set for --refine.")
@click.option("--runner", type=click.Choice(["docker", "bwrap", "subprocess"]), default=None,
              help="Sandbox runner for dry runs [default: the strongest available].")
@click.option("--task-file", "synth_task_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML file defining custom tasks (same as the global option).")
@click.option("--print-prompts", is_flag=True, help="Print the prompts a run would send; call nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def synth(ctx: click.Context, task: str | None, data: Path | None, mode: str, prior: str | None,
          prior_model: str | None, prior_query: str | None, mission: str | None, kb: Path | None,
          n: int, provider: str, base_url: str | None, model: str, recordings: Path | None,
          record_provider: str | None, budget_usd: float | None, prices: Path | None,
          concurrency: int, refine_labeler: str | None, dev: Path | None, runner: str | None,
          synth_task_file: Path | None, print_prompts: bool, as_json: bool) -> None:
    """Have an LLM write labelers, validate and dry-run them, commit the accepted ones.

    One registry commit per run. Programs already received are committed even when a
    later call fails; rerunning the same command continues where it stopped.

    \b
    Example:
        alchemist-engine synth --task youtube --data data/youtube --mode alchemist \\
            --prior heuristics --provider openai --model gpt-4o-mini -n 10
        alchemist-engine synth --task youtube --data data/youtube --provider replay \\
            --recordings rec.json --model gpt-3.5-turbo -n 14 --json
        alchemist-engine synth --task youtube --refine youtube-kw-3f9a2c --dev dev.jsonl
    """
    ws = _ws(ctx)
    if synth_task_file is not None:
        ws.task_file = synth_task_file
    if print_prompts:
        calls = ws.synth_plan(task=task, data=data, model=model, mode=mode, n=n, prior=prior,
                              prior_model=prior_model, kb=kb, mission=mission, prior_query=prior_query)
        if as_json:
            _emit_json([c.to_dict() for c in calls])
            return
        for c in calls:
            out.rule(f"{c.kind} call · seed {c.seed} · {c.model} · {c.template_id}"
                     + (f" · {c.prior_kind}" if c.prior_kind else ""))
            for m in c.messages:
                out.print(f"[bold]{m['role']}[/bold]")
                out.print(m["content"], markup=False, highlight=False)
        return
    result = ws.synth(task=task, data=data, provider=provider, model=model, mode=mode, n=n,
                      prior=prior, prior_model=prior_model, base_url=base_url, recordings=recordings,
                      record_provider=record_provider, budget_usd=budget_usd, kb=kb,
                      refine_labeler=refine_labeler, dev=dev, mission=mission,
                      prior_query=prior_query, runner=runner, prices=prices,
                      concurrency=concurrency, log=None if as_json else console.print)
    if as_json:
        _emit_json(result.to_dict())
    else:
        acc = Table("accepted", "sample", "prior", "cost $", title="Accepted labelers")
        for lf in result.accepted:
            md = lf.metadata
            acc.add_row(lf.id, str(md.get("sample")), str(md.get("prior_kind") or "-"),
                        f"{md['cost_usd']:.6f}" if md.get("cost_usd") is not None else "?")
        out.print(acc)
        if result.rejected:
            rej = Table("sample", "stage", "reason", title="Rejected")
            for r in result.rejected:
                rej.add_row(str(r.sample), r.stage, r.reason)
            out.print(rej)
        out.print(
            f"{len(result.accepted)} accepted, {len(result.rejected)} rejected; "
            f"{result.input_tokens:,} + {result.output_tokens:,} tokens = ${result.cost_usd:.4f}; "
            f"commit {result.commit or '-'}"
            + (f"; stopped: {result.stopped}" if result.stopped else "")
        )
    if result.error:
        raise click.ClickException(
            f"{result.error} ({len(result.accepted)} accepted programs committed"
            f"{' in ' + result.commit[:10] if result.commit else ''})"
        )


@cli.command()
@click.option("--task", default=None, help="Only this task.")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Also estimate labelling this dataset directly with --model.")
@click.option("--model", default="gpt-3.5-turbo", show_default=True,
              help="Model for the direct-annotation estimate.")
@click.option("--split", default="train", show_default=True,
              help="Split to estimate (all rows when the data has no such split).")
@click.option("--prices", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON price table overriding the bundled one.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def cost(ctx: click.Context, task: str | None, data: Path | None, model: str, split: str,
         prices: Path | None, as_json: bool) -> None:
    """Report LLM spend by task, mode and model (synth, refine, annotate runs).

    With --data, also estimate what the model labelling every row directly would cost
    (input tokens = ceil(chars/4) of each annotation prompt, 8 output tokens a row).

    \b
    Example:
        alchemist-engine cost
        alchemist-engine cost --task youtube --data data/youtube --model gpt-4o-mini --json
    """
    report = _ws(ctx).cost(task=task, data=data, model=model, split=split, prices=prices)
    d = report.to_dict()
    if as_json:
        _emit_json(d)
        return
    table = Table("kind", "task", "mode", "model", "runs", "calls", "input tok", "output tok",
                  "accepted", "cost $", title="Spend")
    for r in d["spend"]:
        table.add_row(r["kind"], r["task"], r["mode"], r["model"], str(r["runs"]), str(r["calls"]),
                      f"{r['input_tokens']:,}", f"{r['output_tokens']:,}", str(r["accepted"]),
                      f"{r['cost_usd']:.4f}")
    out.print(table)
    out.print(f"total: ${d['total_usd']:.4f} ({d['total_input_tokens']:,} + "
              f"{d['total_output_tokens']:,} tokens)")
    da = d["direct_annotation"]
    if da:
        price = "unknown price" if da["cost_usd"] is None else f"${da['cost_usd']:.4f}"
        out.print(f"direct annotation of {da['rows']:,} rows with {da['model']} (estimate): "
                  f"{da['input_tokens']:,} + {da['output_tokens']:,} tokens = {price}")


@cli.command()
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Rows to label.")
@click.option("--task", default=None, help="Task name [default: the data folder's name].")
@click.option("--split", default=None, help="Only this split.")
@click.option("--max-rows", type=int, default=None, help="Label at most this many rows.")
@_provider_options
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSONL output [default: WORKSPACE/annotations/TASK-MODEL.jsonl].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def annotate(ctx: click.Context, data: Path, task: str | None, split: str | None,
             max_rows: int | None, provider: str, base_url: str | None, model: str,
             recordings: Path | None, record_provider: str | None, budget_usd: float | None,
             prices: Path | None, concurrency: int, out_path: Path | None, as_json: bool) -> None:
    """Have the model label rows directly: the baseline synthesis is compared against.

    Writes JSONL (id, text, label = the model's answer, gold, split) that loads back as a
    dataset: use it as labels, or as the --dev set of `synth --refine`.

    \b
    Example:
        alchemist-engine annotate --data data/youtube --split valid --max-rows 100 \\
            --provider openai --model gpt-4o-mini --budget-usd 0.05
    """
    with _progress("annotate", max_rows, enabled=not as_json) as advance:
        res = _ws(ctx).annotate(data=data, task=task, provider=provider, model=model,
                                base_url=base_url, recordings=recordings,
                                record_provider=record_provider, max_rows=max_rows, split=split,
                                budget_usd=budget_usd, out=out_path, prices=prices,
                                concurrency=concurrency, progress=advance)
    d = res.to_dict()
    if as_json:
        _emit_json(d)
    else:
        acc = "n/a" if d["accuracy"] is None else f"{d['accuracy']:.3f}"
        out.print(
            f"{d['rows']:,} rows labelled by {d['model']} ({d['parsed']} parsed, {d['unparsed']} "
            f"unparsed -> abstain); accuracy vs gold {acc}; {d['input_tokens']:,} + "
            f"{d['output_tokens']:,} tokens = ${d['cost_usd']:.4f}; written to {d['out']}"
        )
    if res.error and res.stopped != "budget":
        raise click.ClickException(f"{res.error} ({res.rows} rows labelled and written)")


# -- sandbox (issue 5): runners, sandbox-image. Each is one Workspace method.


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
@click.pass_context
def runners(ctx: click.Context, as_json: bool) -> None:
    """List the sandbox runners, which can start here, and what each isolates.

    `apply --runner` picks one; by default the strongest available runs
    (docker > bwrap > subprocess).

    \b
    Example:
        alchemist-engine runners
        alchemist-engine runners --json
    """
    rows = _ws(ctx).runners()
    if as_json:
        _emit_json(rows)
        return
    table = Table("runner", "available", "isolation", "to fix")
    for r in rows:
        table.add_row(r["name"], "yes" if r["available"] else "no", r["isolation"], r["detail"])
    out.print(table)


@cli.command("sandbox-image")
@click.option("--start-engine", is_flag=True, help="Start dockerd first if none answers (needs root).")
@click.pass_context
def sandbox_image(ctx: click.Context, start_engine: bool) -> None:
    """Build (or check) the local docker image the docker runner uses.

    Nothing is pulled: the image is empty and the Python runtime is mounted read-only.

    \b
    Example:
        alchemist-engine sandbox-image --start-engine
    """
    tag = _ws(ctx).sandbox_image(start_engine=start_engine)
    out.print(f"sandbox image ready: {tag}")


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()

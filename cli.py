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
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the label matrix as Parquet (one int8 column per labeler).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def apply(ctx: click.Context, data: Path, task: str | None, split: str | None, ref: str | None,
          runner: str | None, no_lower: bool, out: Path | None, as_json: bool) -> None:
    """Run stored labelers over a dataset in the sandbox (no API call, no network).

    \b
    Example:
        alchemist-engine apply --data new_comments.csv --task youtube --ref v1 --out L.parquet
    """
    ws = _ws(ctx)
    with _progress("apply", None, enabled=not as_json) as advance:
        report = ws.apply(data, task=task, ref=ref, split=split, runner=runner,
                          lower=not no_lower, out=out, progress=advance)
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

"""The public Python API: one :class:`Workspace` method per CLI command, same names.

A workspace is a folder (default ``./.alchemist``, or ``$ALCHEMIST_WORKSPACE``) holding
the git-backed labeler registry (``registry/``) and the content-addressed artifact cache
(``cache/``: label matrices, embeddings, models). Example::

    from alchemist_engine.engine.workspace import Workspace
    ws = Workspace(".alchemist")
    report = ws.apply("data/youtube", task="youtube", split="test")
    print(report.to_dict())
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..labelers import LabelerSpec, TaskError, TaskSpec, get_task
from ..labelers.tasks import builtin_tasks
from .apply import ApplyReport, apply_labelers
from .data import load_dataset

if TYPE_CHECKING:
    from ..store import ArtifactCache, LabelerRegistry
    from ..store.records import CommitInfo, CommitView, DiffReport, FsckReport, LabelerView
    from .annotate import AnnotateResult
    from .cost import CostReport
    from .label import LabelReport
    from .synth import PlannedCall, SynthResult
    from .transfer import ExportReport, ImportReport

DEFAULT_WORKSPACE = ".alchemist"
WORKSPACE_ENV = "ALCHEMIST_WORKSPACE"


def default_root() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


class Workspace:
    """A folder with a labeler registry and an artifact cache; every operation lives here."""

    def __init__(self, root: str | Path | None = None, *, task_file: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.task_file = task_file
        self._registry: LabelerRegistry | None = None
        self._cache: ArtifactCache | None = None

    # -- parts ---------------------------------------------------------------------------

    @property
    def registry(self) -> LabelerRegistry:
        """The git-backed registry, created on first use."""
        if self._registry is None:
            from ..store import LabelerRegistry

            self._registry = LabelerRegistry.open(self.root / "registry", create=True)
        return self._registry

    @property
    def cache(self) -> ArtifactCache:
        if self._cache is None:
            from ..store import ArtifactCache

            self._cache = ArtifactCache(self.root / "cache")
        return self._cache

    def task(self, name: str | None, data: str | Path | None = None) -> TaskSpec:
        """Resolve a task by name; without one, a built-in task named like the data folder."""
        if name is None and data is not None:
            guess = Path(data).resolve().name if Path(data).is_dir() else Path(data).resolve().parent.name
            if guess in builtin_tasks():
                name = guess
        if name is None:
            raise TaskError("no task given: pass --task NAME (built-in or from --task-file)")
        return get_task(name, self.task_file)

    def load(self, data: str | Path, *, task: str | TaskSpec | None = None, split: str | None = None,
             input_field: str | None = None) -> pa.Table:
        spec = task if isinstance(task, TaskSpec) else self.task(task, data)
        return load_dataset(data, task=spec, split=split, input_field=input_field)

    def stored_labelers(self, *, task: str, ref: str | None = None) -> list[LabelerSpec]:
        return self.registry.labelers(ref=ref, task=task)

    # -- operations ----------------------------------------------------------------------

    def apply(
        self,
        data: str | Path,
        *,
        task: str | None = None,
        ref: str | None = None,
        split: str | None = None,
        runner: str | None = None,
        lower: bool = True,
        out: str | Path | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyReport:
        """Run the registry's labelers (at ``ref``) over a dataset; no API call is made."""
        spec = self.task(task, data)
        table = load_dataset(data, task=spec, split=split)
        report = apply_labelers(
            self.stored_labelers(task=spec.name, ref=ref), table,
            task=spec, runner=runner, lower=lower, progress=progress, cache=self.cache,
        )
        if out is not None:
            import pyarrow.parquet as pq

            pq.write_table(report.to_arrow(), str(out))
        return report

    def demo(self, **kwargs: Any) -> Any:
        """The offline end-to-end run on youtube; see :func:`engine.demo.run_demo`."""
        from .demo import run_demo

        return run_demo(self, **kwargs)

    # -- aggregation and distillation (issue 7): label, analyze, predict -------------------

    def votes(
        self, table: pa.Table, spec: TaskSpec, *, ref: str | None = None,
        dataset_votes: bool = False, runner: str | None = None,
    ) -> tuple[Any, list[str]]:
        """The label matrix for ``table``: the dataset's own ``weak_labels`` (WRENCH's
        human-written LFs) or the registry's labelers at ``ref`` applied in the sandbox."""
        if dataset_votes:
            from .label import dataset_votes as wrench_votes

            L = wrench_votes(table)
            return L, [f"wrench_lf{j}" for j in range(L.shape[1])]
        applied = apply_labelers(self.stored_labelers(task=spec.name, ref=ref), table,
                                 task=spec, runner=runner)
        return applied.matrix, applied.labeler_ids

    def label(
        self,
        data: str | Path,
        *,
        task: str | None = None,
        ref: str | None = None,
        dataset_votes: bool = False,
        label_model: str = "snorkel",
        end_model: str = "mlp",
        features: str = "minilm",
        seeds: int = 3,
        select: bool = False,
        min_accuracy: float = 0.5,
        save_model: str | Path | None = None,
        epochs: int | None = None,
        runner: str | None = None,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> LabelReport:
        """Votes -> label model -> end model, scored on the test split (WRENCH protocol)."""
        from .label import run_label

        spec = self.task(task, data)
        table = load_dataset(data, task=spec)
        L, ids = self.votes(table, spec, ref=ref, dataset_votes=dataset_votes, runner=runner)
        return run_label(table, L, ids, task=spec, label_model=label_model, end_model=end_model,
                         features=features, seeds=seeds, cache=self.cache, device=device, log=log,
                         select=select, min_accuracy=min_accuracy, save_model=save_model,
                         epochs=epochs)

    def analyze(
        self,
        data: str | Path,
        *,
        task: str | None = None,
        ref: str | None = None,
        dataset_votes: bool = False,
        split: str | None = None,
        runner: str | None = None,
    ) -> dict[str, Any]:
        """Per-labeler coverage, overlaps, conflicts, polarity and (where gold labels
        exist) empirical accuracy -- Snorkel's LFAnalysis -- on ``split`` (default: all)."""
        from .analysis import analyze

        spec = self.task(task, data)
        table = load_dataset(data, task=spec, split=split)
        L, ids = self.votes(table, spec, ref=ref, dataset_votes=dataset_votes, runner=runner)
        report = analyze(L, table["label"].to_numpy(), names=ids, cardinality=spec.cardinality)
        report.update(task=spec.name, split=split or "all")
        return report

    def predict(
        self,
        model: str | Path,
        data: str | Path,
        *,
        task: str | None = None,
        split: str | None = None,
        out: str | Path | None = None,
        device: str = "auto",
    ) -> dict[str, Any]:
        """Apply a saved end model (``label --save-model DIR``) to a dataset; no labelers,
        no API. Writes JSONL predictions to ``out``; scores against gold labels if present."""
        import json

        from .distill import predict_table
        from .evaluate import score, tie_break

        table = load_dataset(data, split=split)
        end_model, probs = predict_table(model, table, cache=self.cache, device=device)
        name = task or end_model.metadata.get("task")
        spec = get_task(str(name), self.task_file) if name else None
        preds = tie_break(probs) if len(probs) else probs.argmax(axis=1)
        report: dict[str, Any] = {"model": str(model), "rows": int(len(preds)),
                                  "end_model": end_model.kind}
        y = table["label"].to_numpy()
        if spec is not None and len(y) and (y != -1).all():
            report["test"] = score(y, preds, task=spec)
        ids = table["id"].to_pylist()
        records = [{"id": i, "label": int(p), "proba": [round(float(v), 6) for v in pr]}
                   for i, p, pr in zip(ids, preds, probs, strict=True)]
        if out is not None:
            Path(out).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            report["out"] = str(out)
        else:
            report["predictions"] = records
        return report

    # -- registry (issue 4): one method per CLI command ------------------------------------

    def labelers(self, *, ref: str | None = None, task: str | None = None,
                 include_disabled: bool = True) -> list[LabelerSpec]:
        """The labelers stored at ``ref`` (default HEAD), disabled ones included by default."""
        return self.registry.labelers(ref=ref, task=task, include_disabled=include_disabled)

    def show(self, name_or_rev: str) -> LabelerView | CommitView:
        """A labeler (``ID`` or ``ID@REV``) with its history, or a commit with its changes."""
        return self.registry.show(name_or_rev)

    def log(self, *, limit: int | None = None) -> list[CommitInfo]:
        return self.registry.log(limit=limit)

    def diff(self, a: str, b: str | None = None, *, stat: bool = False) -> DiffReport:
        """Labelers added, removed and changed from revision ``a`` to ``b`` (default HEAD)."""
        return self.registry.diff(a, b, stat=stat)

    def tag(self, name: str, rev: str | None = None, *, force: bool = False) -> CommitInfo:
        return self.registry.tag(name, rev, force=force)

    def rollback(self, rev: str) -> CommitInfo:
        """A new commit restoring the labelers of ``rev``; history is kept."""
        return self.registry.rollback(rev)

    def disable(self, labeler: str) -> CommitInfo:
        return self.registry.disable(labeler)

    def enable(self, labeler: str) -> CommitInfo:
        return self.registry.enable(labeler)

    def fsck(self, *, repair: bool = False) -> FsckReport:
        from ..store import LabelerRegistry

        # fsck must work on a registry too damaged to pass open()'s identity check.
        reg = self._registry or LabelerRegistry.open(
            self.root / "registry", create=False, verify=False
        )
        return reg.fsck(repair=repair)

    def import_(self, paths: list[str | Path], *, task: str, message: str | None = None,
                sample: str | Path | None = None, sample_rows: int = 200,
                runner: str | None = None) -> ImportReport:
        """Validate and commit ALCHEmist ``LF*.py`` folders and plain ``.py`` programs.

        With ``sample`` (a dataset), each program must also run on its first
        ``sample_rows`` texts in the sandbox without a fault, as synth's dry run.
        """
        from .transfer import import_programs

        spec = self.task(task)
        texts = None
        if sample is not None:
            table = self.load(sample, task=spec)
            texts = [str(t) for t in table["text"].slice(0, sample_rows).to_pylist()]
        return import_programs(self.registry, [Path(p) for p in paths], spec.name, message,
                               sample=texts, cardinality=spec.cardinality, runner=runner)

    def export(self, directory: str | Path, *, fmt: str, ref: str | None = None,
               task: str | None = None) -> ExportReport:
        """Write the labelers at ``ref`` as a snorkel module, an ALCHEmist folder or .py files."""
        from .transfer import export_labelers

        sha = self.registry.resolve(ref)
        field = self.task(task).input_field if task else "text"
        specs = self.registry.labelers(ref=sha, task=task)
        return export_labelers(specs, fmt, Path(directory), ref=ref or sha, input_field=field)

    # -- LLM synthesis, costs, direct annotation (engine/synth.py, cost.py, annotate.py) -------

    def synth(self, **options: Any) -> SynthResult:
        """Write labelers with an LLM and commit the accepted ones; options as in
        :func:`engine.synth.workspace_synth` (the CLI's ``synth`` flags)."""
        from .synth import workspace_synth

        return workspace_synth(self, **options)

    def synth_plan(self, **options: Any) -> list[PlannedCall]:
        """The prompts ``synth`` would send (``synth --print-prompts``); no call is made."""
        from .synth import workspace_plan

        return workspace_plan(self, **options)

    def cost(self, **options: Any) -> CostReport:
        """Spend by task, mode and model; with ``data``, the direct-annotation estimate."""
        from .cost import workspace_cost

        return workspace_cost(self, **options)

    def annotate(self, **options: Any) -> AnnotateResult:
        """The model labels rows directly (the paper's baseline), with its real cost."""
        from .annotate import workspace_annotate

        return workspace_annotate(self, **options)

    # -- sandbox (issue 5): runner status and the docker image ---------------------------------

    def runners(self) -> list[dict[str, Any]]:
        """Each sandbox runner: available here?, what it isolates, how to fix it if not."""
        from ..sandbox import runner_status

        return runner_status()

    def sandbox_image(self, *, start_engine: bool = False) -> str:
        """Build the local docker sandbox image if missing (optionally start dockerd first)."""
        from ..sandbox import ensure_engine, ensure_image

        if start_engine:
            ensure_engine()
        return ensure_image()

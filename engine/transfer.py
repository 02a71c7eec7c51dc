"""Import labelers from ALCHEmist folders and plain ``.py`` files; export to snorkel, alchemist, python.

The original ALCHEmist tool (SprocketLab/Alchemist) saves each program as
``<dataset>/<mode>/<codellm>/[<prior type>/]LF<n>.py``::

    '''
    <the full prompt>
    '''
    # Accumulated tokens used: 812 (prompt) + 240 (completion) = [1052] tokens in total.
    # Total cost for this inference call: $[0.0008].

    <the program, defining label_function(text)>

The header lines may be missing (hand-made folders). Imported programs pass the same
static validation as synthesized ones; rejected files are reported with reasons and never
committed. Re-importing a program already stored for the task is reported as a duplicate.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..labelers import ABSTAIN, ENTRY_POINT, DataError, LabelerSpec, RegistryError
from ..sandbox import Runner, get_runner
from ..sandbox.validate import validate
from ..store import LabelerRegistry
from .extract import extract_programs, normalized_hash

_LF_NAME = re.compile(r"^LF(\d+)\.py$")
_COST = re.compile(r"\$\[\s*([0-9.eE+-]+)\s*\]")
_TOKENS = re.compile(
    r"#\s*Accumulated tokens used:\s*(\d+)\s*\(prompt\)\s*\+\s*(\d+)\s*\(completion\)"
    r"\s*=\s*\[(\d+)\]"
)
#: ALCHEmist's folder names for its modes -> ours.
_MODES = {
    "scriptoriumws": "scriptorium",
    "alchemist-without-rag": "alchemist",
    "alchemist-with-rag": "alchemist-rag",
}
FORMATS = ("snorkel", "alchemist", "python")


@dataclass
class ParsedProgram:
    """One file read for import: the program plus whatever its header said."""

    path: Path
    source: str
    prompt: str | None = None
    cost_usd: float | None = None
    tokens: dict[str, int] | None = None
    mode: str | None = None
    model: str | None = None
    prior_kind: str | None = None
    file_sha256: str = ""


@dataclass
class ImportItem:
    """The fate of one imported file: ``imported``, ``rejected`` or ``duplicate``."""

    path: str
    status: str
    id: str | None = None
    reasons: list[str] = field(default_factory=list)
    duplicate_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    task: str
    commit: str | None
    items: list[ImportItem] = field(default_factory=list)

    def by_status(self, status: str) -> list[ImportItem]:
        return [i for i in self.items if i.status == status]

    @property
    def imported(self) -> list[ImportItem]:
        return self.by_status("imported")

    @property
    def rejected(self) -> list[ImportItem]:
        return self.by_status("rejected")

    @property
    def duplicates(self) -> list[ImportItem]:
        return self.by_status("duplicate")

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "commit": self.commit,
            "imported": len(self.imported),
            "rejected": len(self.rejected),
            "duplicates": len(self.duplicates),
            "items": [i.to_dict() for i in self.items],
        }


@dataclass
class ExportReport:
    format: str
    ref: str
    directory: str
    files: list[str] = field(default_factory=list)
    labelers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- reading ---------------------------------------------------------------------------------


def discover(paths: list[Path]) -> list[Path]:
    """The ``.py`` files named by ``paths`` (folders searched recursively), in a stable order.

    Within a folder ``LF2.py`` comes before ``LF10.py`` (ALCHEmist numbers them in the
    order they were made); other files follow by name.
    """
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            # Skip caches and hidden folders (.git, .venv): never labelers, possibly huge.
            files = [
                f for f in p.rglob("*.py")
                if f.is_file()
                and not any(part.startswith(".") or part == "__pycache__"
                            for part in f.relative_to(p).parts[:-1])
            ]
            found += sorted(files, key=_order_key)
        elif p.is_file():
            found.append(p)
        else:
            raise DataError(f"{p}: no such file or folder to import")
    seen: set[Path] = set()
    out = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            out.append(f)
    return out


def _order_key(f: Path) -> tuple[str, int, str]:
    m = _LF_NAME.match(f.name)
    return (str(f.parent), int(m.group(1)) if m else 1 << 30, f.name)


def parse_program(path: Path, root: Path | None = None) -> ParsedProgram:
    """Read one file: an ALCHEmist ``LF<n>.py`` (header parsed off) or a plain program (verbatim)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    parsed = ParsedProgram(path=path, source=text, file_sha256=hashlib.sha256(raw).hexdigest())
    mode, model, prior = _infer_from_path(path, root)
    parsed.mode, parsed.model, parsed.prior_kind = mode, model, prior
    if not _LF_NAME.match(path.name):
        return parsed
    lines = text.splitlines(keepends=True)
    start = 0
    try:
        with warnings.catch_warnings():
            # ALCHEmist prompts hold regexes like \d+: invalid escapes, harmless here.
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            first = ast.parse(text).body[:1]
    except SyntaxError:
        first = []
    if (
        first
        and isinstance(first[0], ast.Expr)
        and isinstance(first[0].value, ast.Constant)
        and isinstance(first[0].value.value, str)
    ):
        parsed.prompt = first[0].value.value.strip("\n")
        start = first[0].end_lineno or 0
    # The header: blank lines and ALCHEmist's token/cost comments right after the prompt.
    i = start
    while i < len(lines):
        line = lines[i]
        if (m := _TOKENS.search(line)) is not None:
            parsed.tokens = {
                "prompt": int(m.group(1)),
                "completion": int(m.group(2)),
                "total": int(m.group(3)),
            }
        elif line.lstrip().startswith("#") and (c := _COST.search(line)) is not None:
            try:
                parsed.cost_usd = float(c.group(1))
            except ValueError:
                pass
        elif line.strip():
            break
        i += 1
    parsed.source = "".join(lines[i:])
    return parsed


def _infer_from_path(path: Path, root: Path | None) -> tuple[str | None, str | None, str | None]:
    """ALCHEmist's ``<mode>/<codellm>/[<prior>]`` folders, when the path has them."""
    parts = list(path.resolve().parent.parts)
    for i, part in enumerate(parts):
        mode = _MODES.get(part.lower())
        if mode is not None:
            rest = parts[i + 1:]
            model = rest[0] if rest else None
            prior = rest[1] if len(rest) > 1 else None
            return mode, model, prior
    return None, None, None


# -- import ----------------------------------------------------------------------------------


def import_programs(
    registry: LabelerRegistry,
    paths: list[Path],
    task: str,
    message: str | None = None,
    *,
    sample: Sequence[str] | None = None,
    cardinality: int | None = None,
    runner: Runner | str | None = None,
) -> ImportReport:
    """Validate and commit every program under ``paths`` for ``task`` as ONE commit.

    With ``sample`` (texts) and ``cardinality``, programs that pass validation also get
    synth's dry run: they must run on every sample text in the sandbox without a fault
    (exceptions, out-of-range votes, timeouts); those that do not are rejected.
    """
    files = discover(paths)
    if not files:
        raise DataError(f"no .py files found in {', '.join(map(str, paths))}")
    report = ImportReport(task=task, commit=None)
    # Same dedupe as synth: programs differing only in comments, docstrings, formatting or
    # local names are one program (normalized AST hash).
    known: dict[str, str] = {}
    for stored in registry.labelers(task=task, include_disabled=True):
        known[normalized_hash(stored.source)] = stored.id
    taken: set[str] = set()
    specs: list[LabelerSpec] = []
    for f in files:
        try:
            prog = parse_program(f)
        except DataError as exc:
            report.items.append(ImportItem(str(f), "rejected", reasons=[str(exc)]))
            continue
        extracted = _salvage(prog)
        check = validate(prog.source)
        if not check.ok:
            reasons = [f"line {i.line}: {i.message} [{i.rule}]" for i in check.issues]
            report.items.append(ImportItem(str(f), "rejected", reasons=reasons))
            continue
        norm = normalized_hash(prog.source)
        if norm in known:
            report.items.append(ImportItem(str(f), "duplicate", duplicate_of=known[norm]))
            continue
        lid = registry.new_id(task, prog.source, taken)
        taken.add(lid)
        known[norm] = lid
        meta = _metadata(prog, task, check.to_dict())
        meta["normalized_hash"] = norm
        meta["extracted_from_reply"] = extracted
        specs.append(LabelerSpec(lid, task, prog.source, meta))
        report.items.append(ImportItem(str(f), "imported", id=lid))
    if specs and sample is not None:
        specs = _dry_run(specs, report, sample, cardinality, runner)
    if specs:
        n_rej, n_dup = len(report.rejected), len(report.duplicates)
        where = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
        summary = message or (
            f"Import {len(specs)} labeler(s) into {task} from {where}"
            f" ({n_rej} rejected, {n_dup} duplicate)"
        )
        report.commit = registry.commit(specs, summary)
    return report


def _salvage(prog: ParsedProgram) -> bool:
    """ALCHEmist saved the whole LLM reply when it found no fenced block; if the file's
    code part does not parse, take the one program synth's extractor finds in it."""
    try:
        ast.parse(prog.source)
        return False
    except (SyntaxError, ValueError):
        pass
    found = extract_programs(prog.source)
    if len(found) != 1:
        return False  # none or ambiguous: validation reports the syntax error
    prog.source = found[0]
    return True


def _dry_run(
    specs: list[LabelerSpec],
    report: ImportReport,
    sample: Sequence[str],
    cardinality: int | None,
    runner: Runner | str | None,
) -> list[LabelerSpec]:
    """Run all candidates once over ``sample``; reject (in ``report``) those that fault."""
    if cardinality is None:
        raise DataError("a dry run needs the task's cardinality (number of classes)")
    run = runner if runner is not None and not isinstance(runner, str) else get_runner(runner)
    result = run.apply(specs, pa.array(list(sample), pa.large_string()),
                       cardinality=cardinality, lower=False)
    kept = []
    by_id = {i.id: i for i in report.items}
    for spec in specs:
        fault = result.faults.get(spec.id)
        if fault is None:
            spec.metadata["dry_run"] = {"rows": len(sample), "runner": result.runner}
            kept.append(spec)
            continue
        item = by_id[spec.id]
        item.status, item.id = "rejected", None
        item.reasons = [f"dry run on {len(sample)} sample rows: {fault.first_error} "
                        f"({fault.count} fault(s))"]
    return kept


def _metadata(prog: ParsedProgram, task: str, validation: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": task,
        "mode": prog.mode or "imported",
        "prior_kind": prog.prior_kind,
        "prompt": prog.prompt,
        "template_id": None,
        "passages": [],
        "provider": None,
        "model": prog.model,
        "input_tokens": prog.tokens["prompt"] if prog.tokens else None,
        "output_tokens": prog.tokens["completion"] if prog.tokens else None,
        "cost_usd": prog.cost_usd,
        "price_known": prog.cost_usd is not None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "validation": validation,
        "lowered": None,
        "parent": None,
        "origin": {"kind": "import", "file": str(prog.path), "sha256": prog.file_sha256},
    }


# -- export ----------------------------------------------------------------------------------


def export_labelers(
    labelers: list[LabelerSpec],
    fmt: str,
    out_dir: Path,
    ref: str = "",
    input_field: str = "text",
) -> ExportReport:
    """Write ``labelers`` to ``out_dir`` as ``snorkel`` / ``alchemist`` / ``python``.

    * ``python``: ``<id>.py`` per labeler, verbatim, plus ``manifest.json`` (id, task,
      metadata, file).
    * ``alchemist``: ``LF1.py``... in the ALCHEmist shape (prompt string, token and
      ``$[cost]`` lines, program), plus ``manifest.json`` mapping files to ids.
    * ``snorkel``: one module ``labeling_functions.py`` exposing ``lfs``, a list of
      Snorkel ``LabelingFunction`` objects (named by labeler id) reading
      ``x.<input_field>``, ready for ``PandasLFApplier(lfs)``.
    """
    if fmt not in FORMATS:
        raise RegistryError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport(fmt, ref, str(out_dir), labelers=[s.id for s in labelers])
    manifest: list[dict[str, Any]] = []
    if fmt == "python":
        for s in labelers:
            _write(out_dir / f"{s.id}.py", s.source, report)
            manifest.append(_manifest_entry(s, f"{s.id}.py"))
    elif fmt == "alchemist":
        for n, s in enumerate(labelers, 1):
            _write(out_dir / f"LF{n}.py", _alchemist_text(s), report)
            manifest.append(_manifest_entry(s, f"LF{n}.py"))
    else:
        _write(out_dir / "labeling_functions.py", _snorkel_module(labelers, ref, input_field), report)
    if manifest:
        body = json.dumps({"schema_version": 1, "ref": ref, "labelers": manifest}, indent=2)
        _write(out_dir / "manifest.json", body + "\n", report)
    return report


def _write(path: Path, text: str, report: ExportReport) -> None:
    path.write_text(text, encoding="utf-8")
    report.files.append(str(path))


def _manifest_entry(s: LabelerSpec, file: str) -> dict[str, Any]:
    return {"id": s.id, "task": s.task, "file": file, "enabled": s.enabled,
            "content_hash": s.content_hash, "metadata": s.metadata}


def _alchemist_text(s: LabelerSpec) -> str:
    meta = s.metadata
    prompt = _prompt_text(meta.get("prompt")) or f"labeler {s.id} (task {s.task})"
    # Escape so the string literal evaluates back to exactly this prompt on import.
    prompt = prompt.replace("\\", "\\\\")
    quote = "'''" if "'''" not in prompt else '"""'
    if quote in prompt:
        prompt = prompt.replace('"""', '\\"\\"\\"')
    p = _int(meta.get("input_tokens"))
    c = _int(meta.get("output_tokens"))
    cost = meta.get("cost_usd", meta.get("cost"))
    lines = [
        f"{quote}\n{prompt}\n{quote}\n",
        f"# Accumulated tokens used: {p} (prompt) + {c} (completion) = [{p + c}] tokens in total.\n",
        f"# Total cost for this inference call: $[{float(cost or 0.0):.4f}].\n",
        "\n",
        s.source if s.source.endswith("\n") else s.source + "\n",
    ]
    return "".join(lines)


def _prompt_text(prompt: Any) -> str:
    """Synth stores chat messages; ALCHEmist files hold one text."""
    if isinstance(prompt, list):
        return "\n\n".join(
            f"[{m.get('role', '?')}]\n{m.get('content', '')}" if isinstance(m, dict) else str(m)
            for m in prompt
        )
    return str(prompt) if prompt else ""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _snorkel_module(labelers: list[LabelerSpec], ref: str, input_field: str) -> str:
    programs = "".join(f"    {s.id!r}: {s.source!r},\n" for s in labelers)
    return f'''"""Labeling functions exported by alchemist-engine (registry revision {ref or "HEAD"}).

Each program is compiled into its own namespace and wrapped as a Snorkel LabelingFunction
named by its labeler id; it reads ``x.{input_field}`` and returns a class id or {ABSTAIN}.
Unlike ``alchemist-engine apply``, this runs the programs in YOUR process with no sandbox:
export only programs you trust.

    from labeling_functions import lfs
    from snorkel.labeling import PandasLFApplier
    L = PandasLFApplier(lfs).apply(df)
"""

from snorkel.labeling import labeling_function

ABSTAIN = {ABSTAIN}
INPUT_FIELD = {input_field!r}
PROGRAMS = {{
{programs}}}


def _make(name, source):
    namespace = {{"__name__": "alchemist_lf_" + name.replace("-", "_")}}
    exec(compile(source, name + ".py", "exec"), namespace)
    fn = namespace[{ENTRY_POINT!r}]

    @labeling_function(name=name)
    def lf(x):
        return int(fn(getattr(x, INPUT_FIELD)))

    return lf


lfs = [_make(name, source) for name, source in PROGRAMS.items()]
'''

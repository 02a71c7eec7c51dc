"""Compare two registry snapshots labeler by labeler (pure: no git here)."""

from __future__ import annotations

import difflib
from typing import Any

from ..labelers import LabelerSpec
from .records import DiffReport, LabelerChange


def diff_labelers(
    a_rev: str, a: list[LabelerSpec], b_rev: str, b: list[LabelerSpec]
) -> DiffReport:
    """Labelers added, removed and changed from ``a`` to ``b`` (matched by id)."""
    old = {s.id: s for s in a}
    new = {s.id: s for s in b}
    report = DiffReport(a=a_rev, b=b_rev)
    for lid in sorted(new.keys() - old.keys()):
        s = new[lid]
        report.added.append(_change(lid, s.task, "added", None, s, a_rev, b_rev))
    for lid in sorted(old.keys() - new.keys()):
        s = old[lid]
        report.removed.append(_change(lid, s.task, "removed", s, None, a_rev, b_rev))
    for lid in sorted(old.keys() & new.keys()):
        o, n = old[lid], new[lid]
        if (o.source, o.metadata, o.enabled, o.task) != (n.source, n.metadata, n.enabled, n.task):
            report.changed.append(_change(lid, n.task, "changed", o, n, a_rev, b_rev))
    return report


def metadata_delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"old": ..., "new": ...}}`` for every top-level key whose value differs."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key) or (key in old) != (key in new):
            out[key] = {"old": old.get(key), "new": new.get(key)}
    return out


def _change(
    lid: str,
    task: str,
    status: str,
    old: LabelerSpec | None,
    new: LabelerSpec | None,
    a_rev: str,
    b_rev: str,
) -> LabelerChange:
    old_src = old.source if old else ""
    new_src = new.source if new else ""
    lines = list(
        difflib.unified_diff(
            old_src.splitlines(keepends=True),
            new_src.splitlines(keepends=True),
            fromfile=f"{a_rev[:10]}:{task}/{lid}.py" if old else "/dev/null",
            tofile=f"{b_rev[:10]}:{task}/{lid}.py" if new else "/dev/null",
        )
    )
    # A last line without newline would glue onto the next hunk header when printed.
    text = "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)
    plus = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    minus = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    old_meta = _meta_view(old)
    new_meta = _meta_view(new)
    return LabelerChange(
        id=lid,
        task=task,
        status=status,
        source_diff=text,
        metadata_delta=metadata_delta(old_meta, new_meta),
        lines_added=plus,
        lines_removed=minus,
    )


def _meta_view(spec: LabelerSpec | None) -> dict[str, Any]:
    if spec is None:
        return {}
    # enabled and task live outside metadata in LabelerSpec but belong in the delta.
    return {**spec.metadata, "enabled": spec.enabled, "task": spec.task}

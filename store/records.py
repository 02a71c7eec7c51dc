"""Plain result records of registry operations; each has ``to_dict()`` for ``--json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..labelers import LabelerSpec


@dataclass
class CommitInfo:
    """One registry commit: who, when, what message, which labelers it touched."""

    sha: str
    summary: str
    message: str
    author: str
    time: str
    tags: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.sha[:10]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["short"] = self.short
        return d


@dataclass
class LabelerChange:
    """How one labeler differs between two revisions."""

    id: str
    task: str
    status: str  # "added" | "removed" | "changed"
    source_diff: str = ""
    metadata_delta: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines_added: int = 0
    lines_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiffReport:
    """Labelers added, removed and changed from revision ``a`` to revision ``b``."""

    a: str
    b: str
    added: list[LabelerChange] = field(default_factory=list)
    removed: list[LabelerChange] = field(default_factory=list)
    changed: list[LabelerChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def stat(self) -> DiffReport:
        """The same report without source diffs (``diff --stat``)."""

        def strip(cs: list[LabelerChange]) -> list[LabelerChange]:
            return [
                LabelerChange(c.id, c.task, c.status, "", c.metadata_delta,
                              c.lines_added, c.lines_removed)
                for c in cs
            ]

        return DiffReport(self.a, self.b, strip(self.added), strip(self.removed),
                          strip(self.changed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "changed": [c.to_dict() for c in self.changed],
        }


@dataclass
class LabelerView:
    """``show LABELER``: the labeler as stored at ``rev`` plus the commits that touched it."""

    spec: LabelerSpec
    rev: str
    history: list[CommitInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "labeler",
            "rev": self.rev,
            "id": self.spec.id,
            "task": self.spec.task,
            "enabled": self.spec.enabled,
            "content_hash": self.spec.content_hash,
            "source": self.spec.source,
            "metadata": self.spec.metadata,
            "history": [c.to_dict() for c in self.history],
        }


@dataclass
class CommitView:
    """``show REV``: the commit and what it changed relative to its first parent."""

    commit: CommitInfo
    diff: DiffReport

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "commit", "commit": self.commit.to_dict(), "diff": self.diff.to_dict()}


@dataclass
class FsckReport:
    """Result of ``fsck``: ``ok`` is True when no problem remains."""

    head: str | None
    labelers: int
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def labeler_row(spec: LabelerSpec) -> dict[str, Any]:
    """The columns of ``alchemist-engine labelers``: id, task, state, mode, model, cost, coverage."""
    meta = spec.metadata
    # Coverage is known once a labeler has been scored on a dev set (synth --refine
    # writes dev_after; other writers may use dev_stats).
    stats: dict[str, Any] = {}
    for key in ("dev_stats", "dev_after"):
        if isinstance(meta.get(key), dict):
            stats = meta[key]
    cost = meta.get("cost_usd", meta.get("cost"))
    return {
        "id": spec.id,
        "task": spec.task,
        "enabled": spec.enabled,
        "mode": meta.get("mode"),
        "model": meta.get("model"),
        "cost_usd": cost if isinstance(cost, int | float) else None,
        "coverage": stats.get("coverage", meta.get("coverage")),
        "content_hash": spec.content_hash,
    }

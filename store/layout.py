"""How a labeler is laid out in the registry: ``<task>/<id>.py`` + ``<task>/<id>.json``.

Pure: bytes in, specs and problems out; no git here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..labelers import SCHEMA_VERSION, LabelerSpec, RegistryError, content_hash
from .ids import NAME_RE

#: (task, id, program bytes, parsed JSON document) of one stored labeler.
Entry = tuple[str, str, bytes, dict[str, Any]]


def scan_files(
    files: dict[str, dict[str, bytes]],
) -> tuple[list[Entry], list[str]]:
    """Pair every ``<task>/<id>.{py,json}``; returns (entries, problems)."""
    entries: list[Entry] = []
    problems: list[str] = []
    for task in sorted(files):
        blobs = files[task]
        stems = {n[:-3] for n in blobs if n.endswith(".py")}
        stems |= {n[:-5] for n in blobs if n.endswith(".json")}
        for lid in sorted(stems):
            src, js = blobs.get(lid + ".py"), blobs.get(lid + ".json")
            where = f"{task}/{lid}"
            if src is None or js is None:
                problems.append(f"{where}: {'.json' if src is not None else '.py'} without its pair")
                continue
            try:
                doc = json.loads(js)
            except ValueError as exc:
                problems.append(f"{where}.json: not JSON ({exc})")
                continue
            problem = check_doc(task, lid, src, doc)
            if problem:
                problems.append(f"{where}.json: {problem}")
                continue
            entries.append((task, lid, src, doc))
    return entries, problems


def check_doc(task: str, lid: str, src: bytes, doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "not a JSON object"
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        return f"schema_version {version!r} not understood (this version reads <= {SCHEMA_VERSION})"
    if doc.get("id") != lid or doc.get("task") != task:
        return f"says id {doc.get('id')!r} task {doc.get('task')!r}, but the file is {task}/{lid}"
    try:
        text = src.decode("utf-8")
    except UnicodeDecodeError:
        return "program is not UTF-8"
    if doc.get("content_hash") != content_hash(text):
        return "content_hash does not match the program (edited by hand?)"
    if not isinstance(doc.get("metadata", {}), dict):
        return "metadata is not an object"
    return None


def to_spec(task: str, lid: str, src: bytes, doc: dict[str, Any]) -> LabelerSpec:
    return LabelerSpec(
        id=lid,
        task=task,
        source=src.decode("utf-8"),
        metadata=copy.deepcopy(doc.get("metadata", {})),
        enabled=bool(doc.get("enabled", True)),
    )


def labeler_json(spec: LabelerSpec) -> bytes:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "id": spec.id,
        "task": spec.task,
        "enabled": spec.enabled,
        "content_hash": spec.content_hash,
        "metadata": spec.metadata,
    }
    try:
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"labeler {spec.id!r}: metadata must be JSON (str, number, bool, None, list, "
            f"dict): {exc}"
        ) from exc


def check_name(kind: str, name: str) -> None:
    if not NAME_RE.match(name) or name in {".", ".."}:
        raise RegistryError(
            f"{kind} {name!r} is not usable as a file name: use letters, digits, '.', '-', '_' "
            "(at most 128, starting with a letter or digit)"
        )

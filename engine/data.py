"""Dataset loaders: WRENCH folders/files, CSV/TSV, JSONL and Parquet into one Arrow shape.

Every loader returns a ``pa.Table`` with columns

* ``id``    string   -- the row id from the file (WRENCH key, ``id`` column, or row number)
* ``text``  string   -- the labeler input (the task's ``input_field``; empty strings are valid)
* ``label`` int64    -- gold class id, ``-1`` where unknown
* ``split`` string   -- ``train`` / ``valid`` / ``test`` / ... (``data`` for single files)
* ``weak_labels`` list<int8> -- only when the dataset carries its own labeling-function votes

Bad input raises :class:`DataError` naming the file, the row and the problem.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..labelers import ABSTAIN, DataError, TaskSpec

SPLITS = ("train", "valid", "test")
_SUFFIXES = {".json", ".jsonl", ".csv", ".tsv", ".parquet"}


def load_dataset(
    path: str | Path,
    *,
    task: TaskSpec | None = None,
    input_field: str | None = None,
    split: str | None = None,
) -> pa.Table:
    """Load ``path`` (a WRENCH folder or a single file) into the standard Arrow table.

    ``split`` keeps only that split. ``task`` checks that every gold label is one of
    its class ids and supplies the default ``input_field``.
    """
    p = Path(path)
    field = input_field or (task.input_field if task else "text")
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        tables = []
        files = [p / f"{s}.json" for s in SPLITS if (p / f"{s}.json").exists()]
        if not files:
            raise DataError(
                f"{p}: not a WRENCH folder (expected train.json, valid.json and/or test.json)"
            )
        if split is not None:
            files = [f for f in files if f.stem == split]
            if not files:
                raise DataError(f"{p}: has no split {split!r}")
        for f in files:
            tables.append(_load_file(f, field, split_name=f.stem))
        table = _concat(tables)
        classes = _label_json(p / "label.json")
    else:
        table = _load_file(p, field, split_name=None)
        classes = None
        if split is not None:
            table = table.filter(pa.compute.equal(table["split"], split))
    if task is not None:
        _check_labels(table, p, set(task.classes))
    elif classes is not None:
        _check_labels(table, p, set(classes))
    return table


def dataset_fingerprint(table: pa.Table, column: str = "text") -> str:
    """sha256 over the ids and texts: the same rows in the same order give the same hash."""
    h = hashlib.sha256()
    for name in ("id", column):
        for chunk in table[name].chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(memoryview(buf))
    return h.hexdigest()


def class_names(path: str | Path) -> dict[int, str] | None:
    """The ``label.json`` of a WRENCH folder, if there is one."""
    p = Path(path)
    return _label_json(p / "label.json") if p.is_dir() else None


# -- per format -------------------------------------------------------------------------


def _load_file(f: Path, field: str, split_name: str | None) -> pa.Table:
    suffix = f.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"{f}: unsupported format {suffix!r} (use .json, .jsonl, .csv, .tsv, .parquet)")
    # A lone WRENCH split file keeps its split name; any other single file is "data".
    split_default = split_name or (f.stem if f.stem in SPLITS else "data")
    if suffix == ".parquet":
        try:
            raw = pq.read_table(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{f}: not a readable Parquet file: {exc}") from exc
        return _from_records(f, raw.to_pylist(), field, split_default, row_base=0)
    text = _read_text(f)
    if suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{f}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        if isinstance(doc, dict):
            return _from_wrench(f, doc, field, split_default)
        if isinstance(doc, list):
            return _from_records(f, doc, field, split_default, row_base=0)
        raise DataError(f"{f}: expected a WRENCH object {{id: {{data, label}}}} or a list of rows")
    if suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{f}: line {lineno}: invalid JSON: {exc.msg}") from exc
        return _from_records(f, rows, field, split_default, row_base=1, base_is_line=True)
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise DataError(f"{f}: empty file (expected a header row naming the columns)")
    rows = []
    for i, row in enumerate(reader):
        if None in row:
            raise DataError(f"{f}: row {i + 2}: more fields than the header has columns")
        rows.append(row)
    return _from_records(f, rows, field, split_default, row_base=2, base_is_line=True)


def _read_text(f: Path) -> str:
    data = f.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{f}: line {line}: bytes that are not UTF-8 at offset {exc.start}; "
            "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from exc


def _from_wrench(f: Path, doc: Mapping[str, Any], field: str, split: str) -> pa.Table:
    ids, texts, labels, weak = [], [], [], []
    has_weak = False
    for key, row in doc.items():
        if not isinstance(row, dict) or "data" not in row:
            raise DataError(f"{f}: row {key!r}: expected {{\"data\": {{...}}, \"label\": k}}")
        data = row["data"]
        if not isinstance(data, dict) or field not in data:
            raise DataError(f"{f}: row {key!r}: data has no field {field!r} (fields: {sorted(data) if isinstance(data, dict) else type(data).__name__})")
        ids.append(str(key))
        texts.append(_as_text(f, key, data[field]))
        labels.append(_as_label(f, key, row.get("label", ABSTAIN)))
        wl = row.get("weak_labels")
        if wl:
            has_weak = True
            if not isinstance(wl, list) or not all(isinstance(v, int) for v in wl):
                raise DataError(f"{f}: row {key!r}: weak_labels must be a list of integers")
        weak.append(wl or [])
    if has_weak:
        widths = {len(w) for w in weak}
        if len(widths) != 1:
            raise DataError(f"{f}: rows disagree on the number of weak labels: {sorted(widths)}")
    return _build(ids, texts, labels, split, weak if has_weak else None)


def _from_records(
    f: Path,
    rows: Iterable[Any],
    field: str,
    split: str,
    *,
    row_base: int,
    base_is_line: bool = False,
) -> pa.Table:
    ids, texts, labels, splits = [], [], [], []
    weak: list[list[int]] = []
    has_weak = False
    where = "line" if base_is_line else "row"
    for i, row in enumerate(rows):
        n = i + row_base
        if not isinstance(row, dict):
            raise DataError(f"{f}: {where} {n}: expected an object with named fields")
        if field not in row:
            raise DataError(f"{f}: {where} {n}: missing column {field!r} (columns: {sorted(row)}); pass --input-field")
        ids.append(str(row["id"]) if row.get("id") not in (None, "") else str(i))
        texts.append(_as_text(f, f"{where} {n}", row[field]))
        labels.append(_as_label(f, f"{where} {n}", row.get("label")))
        splits.append(str(row.get("split") or split))
        wl = row.get("weak_labels")
        if isinstance(wl, str) and wl:
            try:
                wl = json.loads(wl)
            except json.JSONDecodeError:
                raise DataError(f"{f}: {where} {n}: weak_labels is not a JSON list") from None
        if wl is not None and len(wl):
            has_weak = True
        weak.append([int(v) for v in wl] if wl is not None else [])
    table = _build(ids, texts, labels, "", weak if has_weak else None)
    return table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))


def _as_text(f: Path, where: object, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise DataError(f"{f}: {where}: the input field must be a string, got {type(value).__name__}")


def _as_label(f: Path, where: object, value: Any) -> int:
    if value is None or value == "":
        return ABSTAIN
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{f}: {where}: label {value!r} is not an integer class id") from None


def _build(ids: list[str], texts: list[str], labels: list[int], split: str, weak: list[list[int]] | None) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.string()),
        "text": pa.array(texts, pa.string()),
        "label": pa.array(labels, pa.int64()),
        "split": pa.array([split] * len(ids), pa.string()),
    }
    if weak is not None:
        cols["weak_labels"] = pa.array(weak, pa.list_(pa.int8()))
    return pa.table(cols)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len({("weak_labels" in t.column_names) for t in tables}) > 1:
        tables = [t.drop_columns(["weak_labels"]) if "weak_labels" in t.column_names else t for t in tables]
    return pa.concat_tables(tables)


def _label_json(f: Path) -> dict[int, str] | None:
    if not f.exists():
        return None
    try:
        doc = json.loads(_read_text(f))
        return {int(k): str(v) for k, v in doc.items()}
    except (json.JSONDecodeError, ValueError, AttributeError) as exc:
        raise DataError(f"{f}: expected {{\"0\": \"class name\", ...}}: {exc}") from exc


def _check_labels(table: pa.Table, p: Path, allowed: set[int]) -> None:
    labels = table["label"].to_pylist()
    for i, y in enumerate(labels):
        if y != ABSTAIN and y not in allowed:
            rid = table["id"][i].as_py()
            split = table["split"][i].as_py()
            raise DataError(
                f"{p}: split {split!r}, row {rid!r}: label {y} is not one of the task's classes {sorted(allowed)}"
            )

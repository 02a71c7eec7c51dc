"""Dataset loaders on real files: every format, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from alchemist_engine.engine.data import dataset_fingerprint, load_dataset
from alchemist_engine.labelers import DataError, get_task

BUNDLED = Path(__file__).resolve().parents[1] / "engine" / "assets" / "datasets" / "youtube"
YOUTUBE = get_task("youtube")


def test_wrench_folder_has_all_splits_and_weak_labels() -> None:
    t = load_dataset(BUNDLED, task=YOUTUBE)
    assert t.column_names == ["id", "text", "label", "split", "weak_labels"]
    counts = {r["split"]: r["id_count"] for r in t.group_by("split").aggregate([("id", "count")]).to_pylist()}
    assert counts == {"train": 1586, "valid": 120, "test": 250}
    assert t.schema.field("weak_labels").type == pa.list_(pa.int8())
    assert len(t["weak_labels"][0].as_py()) == 10
    assert set(t["label"].to_pylist()) == {0, 1}


def test_split_filter_and_single_wrench_file() -> None:
    t = load_dataset(BUNDLED, split="test")
    assert t.num_rows == 250 and set(t["split"].to_pylist()) == {"test"}
    f = load_dataset(BUNDLED / "valid.json")
    assert f.num_rows == 120 and set(f["split"].to_pylist()) == {"valid"}


def test_csv_tsv_jsonl_parquet_agree(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "buy now", "label": 1}, {"id": "b", "text": "", "label": ""},
            {"id": "c", "text": "nice, song \"x\"", "label": 0}]
    (tmp_path / "d.csv").write_text("id,text,label\na,buy now,1\nb,,\nc,\"nice, song \"\"x\"\"\",0\n")
    (tmp_path / "d.tsv").write_text("id\ttext\tlabel\na\tbuy now\t1\nb\t\t\nc\tnice, song \"x\"\t0\n")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["buy now", "", 'nice, song "x"'],
                             "label": [1, None, 0]}), tmp_path / "d.parquet")
    tables = [load_dataset(tmp_path / f"d.{ext}", task=YOUTUBE) for ext in ("csv", "tsv", "jsonl", "parquet")]
    for t in tables:
        assert t["id"].to_pylist() == ["a", "b", "c"]
        assert t["text"].to_pylist() == ["buy now", "", 'nice, song "x"']  # empty text is a valid row
        assert t["label"].to_pylist() == [1, -1, 0]
        assert t["split"].to_pylist() == ["data"] * 3
    assert len({dataset_fingerprint(t) for t in tables}) == 1


def test_named_input_field(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,comment\n1,hello\n")
    t = load_dataset(tmp_path / "d.csv", input_field="comment")
    assert t["text"].to_pylist() == ["hello"] and t["label"].to_pylist() == [-1]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.json", b'{"0": {"data": {"text": "x"}, "label": 0,}', "invalid JSON at line 1"),
        ("d.jsonl", b'{"text": "ok"}\n{"text": \n', "line 2: invalid JSON"),
        ("d.csv", b"id,body\n1,hello\n", "line 2: missing column 'text'"),
        ("d.csv", b"id,text\n1,caf\xe9\n", "line 2: bytes that are not UTF-8"),
        ("d.csv", b"id,text,label\n1,hi,7\n", "label 7 is not one of the task's classes [0, 1]"),
        ("d.csv", b"id,text,label\n1,hi,spam\n", "label 'spam' is not an integer"),
        ("d.csv", b"", "empty file"),
        ("d.xml", b"<a/>", "unsupported format"),
        ("d.parquet", b"not parquet", "not a readable Parquet file"),
        ("d.json", b'{"0": {"data": {"body": "x"}, "label": 0}}', "row '0': data has no field 'text'"),
    ],
)
def test_bad_input_names_file_row_and_problem(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_dataset(f, task=YOUTUBE)
    assert message in str(err.value)
    assert str(f) in str(err.value)


def test_missing_path_and_non_wrench_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not a WRENCH folder"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="has no split 'train'"):
        load_dataset(_only_test(tmp_path), split="train")


def _only_test(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    d.mkdir()
    (d / "test.json").write_text('{"0": {"data": {"text": "x"}, "label": 0}}')
    return d

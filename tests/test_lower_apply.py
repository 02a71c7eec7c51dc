"""Lowering inside the real sandbox worker, and the label-matrix cache around it.

Runs through the subprocess runner (always available): kernels and interpreter must
give the same matrix and the same fault reports; a repeated apply reads its columns
back from the workspace's artifact cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from alchemist_engine.engine.apply import apply_labelers
from alchemist_engine.engine.matrix_cache import fingerprint
from alchemist_engine.labelers import LabelerSpec, get_task
from alchemist_engine.sandbox import get_runner
from alchemist_engine.store.cache import ArtifactCache

PROGRAMS = {
    "kw": (
        "def label_function(text):\n"
        "    t = text.lower()\n"
        "    if any(w in t for w in ['subscribe', 'check out', 'http']):\n"
        "        return 1\n"
        "    return 0 if 'song' in t else -1\n"
    ),
    "caps": (
        "def label_function(text):\n"
        "    n = sum(1 for c in text if c.isupper())\n"
        "    return 1 if text and n / len(text) > 0.5 else -1\n"
    ),
    "regex": (
        "import re\n"
        "def label_function(text):\n"
        "    return 1 if re.search(r'\\bwww\\.\\w+|\\d{3}-\\d{4}', text, re.I) else -1\n"
    ),
    "faulty": (  # ZeroDivisionError on empty text: counted, not quarantined (< 5%)
        "def label_function(text):\n"
        "    return 1 if text.count('!') / len(text) > 0.1 else 0\n"
    ),
    "interpreted": (  # a shape lowering does not cover
        "def label_function(text):\n"
        "    for w in text.split():\n"
        "        if w.endswith('!!'):\n"
        "            return 1\n"
        "    return -1\n"
    ),
}
OUT_OF_RANGE = "def label_function(text):\n    return 5 if 'song' in text else -1\n"

BASE = [
    "Check out my channel http://x.y", "I love this song", "WOW SO COOL", "nice", "call 555-1234",
    "visit www.example.com", "İstanbul song", "çok güzel şarkı", "\u212aelvin subscribe", "great!!",
    "naïve SONG", "\xa0spaces\u3000", "",
]


def _texts(n: int) -> pa.Array:
    rows = [BASE[i % len(BASE)] + (" " * (i % 3)) for i in range(n)]
    rows[5] = ""  # one more empty row
    return pa.array(rows, pa.large_string())


def _specs(programs: dict[str, str]) -> list[LabelerSpec]:
    return [LabelerSpec(id=k, task="youtube", source=v) for k, v in programs.items()]


@pytest.fixture(scope="module")
def runner():  # type: ignore[no-untyped-def]
    return get_runner("subprocess")


def test_worker_lowers_and_agrees_with_the_interpreter(runner) -> None:  # type: ignore[no-untyped-def]
    texts = _texts(400)
    low = runner.apply(_specs(PROGRAMS), texts, cardinality=2, lower=True)
    ref = runner.apply(_specs(PROGRAMS), texts, cardinality=2, lower=False)
    assert sorted(low.lowered) == ["caps", "faulty", "kw", "regex"]
    assert ref.lowered == []
    assert np.array_equal(low.matrix, ref.matrix)
    assert {k: v.to_dict() for k, v in low.faults.items()} == {k: v.to_dict() for k, v in ref.faults.items()}
    assert low.faults["faulty"].count == sum(1 for t in texts.to_pylist() if t == "")
    assert not low.faults["faulty"].quarantined


def test_out_of_range_vote_is_the_same_contract_violation(runner) -> None:  # type: ignore[no-untyped-def]
    texts = _texts(50)
    low = runner.apply(_specs({"bad": OUT_OF_RANGE}), texts, cardinality=2, lower=True)
    ref = runner.apply(_specs({"bad": OUT_OF_RANGE}), texts, cardinality=2, lower=False)
    assert low.faults["bad"].to_dict() == ref.faults["bad"].to_dict()
    assert low.faults["bad"].quarantined and "returned int 5" in low.faults["bad"].first_error


def test_fingerprint_is_content_not_layout() -> None:
    a = pa.array(["x", "yy", None, "zzz"] * 3, pa.large_string())
    sliced = pa.array(["pad"] + ["x", "yy", None, "zzz"] * 3 + ["end"], pa.string()).slice(1, 12)
    chunked = pa.chunked_array([a.slice(0, 5), a.slice(5)])
    assert fingerprint(a) == fingerprint(sliced) == fingerprint(chunked)
    assert fingerprint(a) != fingerprint(pa.array(["x", "yy", "", "zzz"] * 3))
    assert fingerprint(a) != fingerprint(a.slice(1))


def test_second_apply_reads_the_cache(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    cache = ArtifactCache(tmp_path / "cache")
    table = pa.table({"text": _texts(300)})
    task = get_task("youtube")
    first = apply_labelers(_specs(PROGRAMS), table, task=task, runner=runner, cache=cache)
    assert first.cache_hits == 0 and sorted(first.lowered) == ["caps", "faulty", "kw", "regex"]
    again = apply_labelers(_specs(PROGRAMS), table, task=task, runner=runner, cache=cache)
    assert again.cache_hits == len(PROGRAMS) and again.lowered == []
    assert np.array_equal(first.matrix, again.matrix)
    assert again.faults == first.faults  # the fault summary comes back with the votes
    changed = dict(PROGRAMS, kw=PROGRAMS["kw"].replace("'song'", "'love'"))
    third = apply_labelers(_specs(changed), table, task=task, runner=runner, cache=cache)
    assert third.cache_hits == len(PROGRAMS) - 1 and third.lowered == ["kw"]
    other = pa.table({"text": _texts(301)})
    fourth = apply_labelers(_specs(PROGRAMS), other, task=task, runner=runner, cache=cache)
    assert fourth.cache_hits == 0


def test_quarantined_columns_are_not_cached(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    cache = ArtifactCache(tmp_path / "cache")
    table = pa.table({"text": _texts(40)})
    task = get_task("youtube")
    specs = _specs({"bad": OUT_OF_RANGE, "kw": PROGRAMS["kw"]})
    apply_labelers(specs, table, task=task, runner=runner, cache=cache)
    again = apply_labelers(specs, table, task=task, runner=runner, cache=cache)
    assert again.cache_hits == 1 and again.faults["bad"]["quarantined"]

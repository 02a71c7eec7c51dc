"""Import of ALCHEmist folders / plain .py files and export to snorkel, alchemist, python."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from alchemist_engine.engine.transfer import (
    discover,
    export_labelers,
    import_programs,
    parse_program,
)
from alchemist_engine.labelers import DataError, LabelerSpec, RegistryError
from alchemist_engine.store import LabelerRegistry

KW = (
    "def label_function(text):\n"
    "    keywords = ['subscribe', 'check out', 'my channel']\n"
    "    t = text.lower()\n"
    "    return 1 if any(k in t for k in keywords) else -1\n"
)
URL = (
    "import re\n\n"
    "def label_function(text):\n"
    "    return 1 if re.search(r'https?://', text) else -1\n"
)
SHORT = "def label_function(text):\n    return 0 if len(text.split()) < 6 else -1\n"
EVIL = "import os\n\ndef label_function(text):\n    return os.system('true')\n"
PROMPT = "You write labeling functions.\nA regex like \\d+ may help; quotes ' and \" too."


def alchemist_file(prompt: str | None, code: str, cost: str | None = "0.0008",
                   tokens: bool = True) -> str:
    parts = []
    if prompt is not None:
        parts.append("'''\n" + prompt + "\n'''\n")
    if tokens:
        parts.append("# Accumulated tokens used: 812 (prompt) + 240 (completion) = "
                     "[1052] tokens in total.\n")
    if cost is not None:
        parts.append(f"# Total cost for this inference call: $[{cost}].\n")
    return "".join(parts) + "\n" + code


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """An ALCHEmist output tree: <dataset>/<mode>/<codellm>/[<prior>]/LF<n>.py."""
    d = tmp_path / "Alchemist_Data" / "youtube" / "Alchemist-without-RAG" / "gpt-4" / "heuristics"
    d.mkdir(parents=True)
    (d / "LF1.py").write_text(alchemist_file("prompt one, \\d stays", KW))
    (d / "LF2.py").write_text(alchemist_file("prompt two", URL, cost=None, tokens=False))
    (d / "LF10.py").write_text(alchemist_file("prompt ten", EVIL))
    (d / "LF3.py").write_text(SHORT)  # a hand-made file: no header at all
    return tmp_path / "Alchemist_Data"


def test_parse_alchemist_file(folder: Path) -> None:
    lf1 = next(folder.rglob("LF1.py"))
    p = parse_program(lf1)
    assert p.source == KW
    assert p.prompt == "prompt one, \\d stays"
    assert p.cost_usd == 0.0008
    assert p.tokens == {"prompt": 812, "completion": 240, "total": 1052}
    assert (p.mode, p.model, p.prior_kind) == ("alchemist", "gpt-4", "heuristics")
    p2 = parse_program(next(folder.rglob("LF2.py")))
    assert p2.source == URL and p2.cost_usd is None and p2.tokens is None
    p3 = parse_program(next(folder.rglob("LF3.py")))
    assert p3.source == SHORT and p3.prompt is None


def test_discover_orders_lf_numbers(folder: Path, tmp_path: Path) -> None:
    (folder / ".venv" / "lib").mkdir(parents=True)
    (folder / ".venv" / "lib" / "site.py").write_text("x = 1\n")
    names = [f.name for f in discover([folder])]
    assert names == ["LF1.py", "LF2.py", "LF3.py", "LF10.py"]
    with pytest.raises(DataError, match="no such file"):
        discover([tmp_path / "missing"])


def test_import_validates_and_commits_once(folder: Path, tmp_path: Path) -> None:
    reg = LabelerRegistry.open(tmp_path / "registry")
    plain = tmp_path / "plain_lf.py"
    plain.write_text('"""A module docstring stays: plain files are verbatim."""\n' + SHORT.replace("6", "7"))
    before = len(reg.log())
    rep = import_programs(reg, [folder, plain], "youtube")
    assert len(reg.log()) == before + 1
    assert [i.status for i in rep.items] == ["imported"] * 3 + ["rejected", "imported"]
    (bad,) = rep.rejected
    assert bad.path.endswith("LF10.py") and any("os" in r for r in bad.reasons)
    stored = {s.id: s for s in reg.labelers(task="youtube")}
    assert len(stored) == 4 and rep.commit == reg.head
    lf1 = stored[rep.items[0].id or ""]
    assert lf1.source == KW
    m = lf1.metadata
    assert m["prompt"] == "prompt one, \\d stays" and m["cost_usd"] == 0.0008
    assert (m["input_tokens"], m["output_tokens"]) == (812, 240)
    assert m["mode"] == "alchemist" and m["model"] == "gpt-4" and m["prior_kind"] == "heuristics"
    assert m["validation"]["ok"] is True and m["origin"]["kind"] == "import"
    assert stored[rep.items[4].id or ""].source.startswith('"""A module docstring')
    # Importing the same programs again: duplicates, no commit.
    again = import_programs(reg, [folder], "youtube")
    assert again.commit is None and len(again.duplicates) == 3
    assert len(reg.log()) == before + 1


def test_import_nothing_found(tmp_path: Path) -> None:
    reg = LabelerRegistry.open(tmp_path / "registry")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="no .py files"):
        import_programs(reg, [tmp_path / "emptydir"], "youtube")


def _specs() -> list[LabelerSpec]:
    return [
        LabelerSpec("youtube-subscribe-1", "youtube", KW,
                    {"prompt": PROMPT, "cost_usd": 0.0012, "input_tokens": 10,
                     "output_tokens": 5}),
        LabelerSpec("youtube-https-2", "youtube", URL,
                    {"prompt": [{"role": "system", "content": "sys"},
                                {"role": "user", "content": "write one"}]}),
        LabelerSpec("youtube-short-3", "youtube", SHORT.rstrip("\n"), {}),  # no final newline
    ]


def test_export_alchemist_round_trip(tmp_path: Path) -> None:
    rep = export_labelers(_specs(), "alchemist", tmp_path / "out", ref="v1")
    assert sorted(Path(f).name for f in rep.files) == ["LF1.py", "LF2.py", "LF3.py", "manifest.json"]
    p = parse_program(tmp_path / "out" / "LF1.py")
    assert p.prompt == PROMPT and p.source == KW and p.cost_usd == 0.0012
    assert p.tokens == {"prompt": 10, "completion": 5, "total": 15}
    chat = parse_program(tmp_path / "out" / "LF2.py")
    assert chat.prompt == "[system]\nsys\n\n[user]\nwrite one" and chat.source == URL
    # What the original ALCHEmist labeling.py does with the folder: exec + $[cost] regex.
    import re

    for f in sorted((tmp_path / "out").glob("LF*.py")):
        ns: dict[str, object] = {}
        exec(f.read_text(), ns)  # trusted test programs
        assert callable(ns["label_function"])
        assert re.compile(r"\$\[(.*?)\]").findall(f.read_text())
    reg = LabelerRegistry.open(tmp_path / "registry")
    back = import_programs(reg, [tmp_path / "out"], "youtube")
    assert len(back.imported) == 3
    assert sorted(s.source for s in reg.labelers()) == sorted(
        s.source if s.source.endswith("\n") else s.source + "\n" for s in _specs()
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["id"] for e in manifest["labelers"]] == [s.id for s in _specs()]


def test_export_python_verbatim(tmp_path: Path) -> None:
    export_labelers(_specs(), "python", tmp_path / "py")
    for s in _specs():
        assert (tmp_path / "py" / f"{s.id}.py").read_text() == s.source


def test_export_snorkel_with_real_applier(tmp_path: Path) -> None:
    from snorkel.labeling import LabelingFunction, PandasLFApplier

    export_labelers(_specs(), "snorkel", tmp_path / "sn", ref="v1")
    spec = importlib.util.spec_from_file_location("exported_lfs", tmp_path / "sn" / "labeling_functions.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["exported_lfs"] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop("exported_lfs", None)
    lfs = mod.lfs
    assert all(isinstance(lf, LabelingFunction) for lf in lfs)
    assert [lf.name for lf in lfs] == [s.id for s in _specs()]
    df = pd.DataFrame({"text": [
        "Check out my channel please",
        "visit http://spam.example now for free stuff",
        "great song",
        "This is a long genuine comment about the music video",
    ]})
    L = PandasLFApplier(lfs).apply(df, progress_bar=False)
    assert L.tolist() == [[1, -1, 0], [-1, 1, -1], [-1, -1, 0], [-1, -1, -1]]


def test_export_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="unknown export format"):
        export_labelers(_specs(), "csv", tmp_path)


def test_import_dry_run_rejects_faulty_programs(tmp_path: Path) -> None:
    reg = LabelerRegistry.open(tmp_path / "registry")
    d = tmp_path / "lfs"
    d.mkdir()
    (d / "LF1.py").write_text(KW)
    (d / "LF2.py").write_text("def label_function(text):\n    return 1 // (len(text) - len(text))\n")
    (d / "LF3.py").write_text("def label_function(text):\n    return 7\n")  # not a class id
    sample = ["check out my channel", "nice song", ""]
    rep = import_programs(reg, [d], "youtube", sample=sample, cardinality=2, runner="subprocess")
    assert [i.status for i in rep.items] == ["imported", "rejected", "rejected"]
    assert all("dry run on 3 sample rows" in i.reasons[0] for i in rep.rejected)
    (stored,) = reg.labelers()
    assert stored.source == KW and stored.metadata["dry_run"]["rows"] == 3


def test_import_salvages_whole_replies_and_dedupes_like_synth(tmp_path: Path) -> None:
    reg = LabelerRegistry.open(tmp_path / "registry")
    d = tmp_path / "lfs"
    d.mkdir()
    # ALCHEmist keeps the whole reply when its ```python pattern misses (here: ```py).
    reply = "Sure! Here is a labeling function:\n\n```py\n" + URL + "```\n\nIt flags links."
    (d / "LF1.py").write_text(alchemist_file("p", reply))
    # The same program as LF1 with a comment and another local name: a duplicate.
    (d / "LF2.py").write_text(URL.replace("def label_function(text):",
                                          "def label_function(s):  # links").replace(", text)", ", s)"))
    (d / "LF3.py").write_text(alchemist_file("p", "Two tries:\n```python\n" + KW + "```\n```python\n"
                                             + SHORT + "```\n"))
    rep = import_programs(reg, [d], "youtube")
    assert [i.status for i in rep.items] == ["imported", "duplicate", "rejected"]
    assert rep.items[1].duplicate_of == rep.items[0].id
    (stored,) = reg.labelers()
    assert stored.source == URL and stored.metadata["extracted_from_reply"] is True
    assert stored.metadata["normalized_hash"]

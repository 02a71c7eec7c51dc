"""Static validation: the AST allow-list and its reports (nothing is executed here)."""

from __future__ import annotations

import json

import pytest
from alchemist_engine.sandbox import Issue, Policy, ValidationReport, validate

TYPICAL = [
    # keyword list
    "def label_function(text):\n    kws = ['subscribe', 'check out', 'my channel']\n"
    "    return 1 if any(k in text.lower() for k in kws) else -1\n",
    # regex with flags, from-import, module constant
    "from re import compile, IGNORECASE\nURL = compile(r'https?://', IGNORECASE)\n"
    "def label_function(text):\n    if URL.search(text):\n        return 1\n    return 0 if len(text) < 20 else -1\n",
    # collections, math, f-string, try/except, dict comprehension, walrus
    "import collections\nimport math\n"
    "def label_function(text):\n    c = collections.Counter(text.split())\n"
    "    score = {w: math.log(n + 1) for w, n in c.items()}\n"
    "    try:\n        top = max(score.values())\n    except ValueError:\n        return -1\n"
    "    msg = f'{top:.2f}'\n    return 1 if (n := len(msg)) > 4 else 0\n",
    # helper function + lambda + sorted with key + string constants
    "import string\n"
    "def helper(t):\n    return sum(1 for ch in t if ch in string.punctuation)\n"
    "def label_function(text):\n    words = sorted(text.split(), key=lambda w: -len(w))\n"
    "    return 1 if helper(text) > 3 or (words and words[0].isupper()) else -1\n",
]


@pytest.mark.parametrize("src", TYPICAL)
def test_typical_llm_programs_pass(src: str) -> None:
    report = validate(src)
    assert report.ok, report.summary()
    assert report.issues == []
    assert report.summary() == "ok"


@pytest.mark.parametrize(
    ("src", "rule", "line"),
    [
        ("import os\ndef label_function(text):\n    return 0\n", "import", 1),
        ("def label_function(text):\n    return open('x') and 0\n", "builtin", 2),
        ("def label_function(text):\n    return text.__class__ and 0\n", "underscore", 2),
        ("def label_function(text):\n    return '{}'.format(text) and 0\n", "attribute", 2),
        ("import re\ndef label_function(text):\n    return re.enum and 0\n", "module-attribute", 3),
        ("from re import enum\ndef label_function(text):\n    return 0\n", "module-attribute", 1),
        ("class A:\n    pass\ndef label_function(text):\n    return 0\n", "syntax-form", 1),
        ("def label_function(text):\n    return 0\n" + "X = '" + "a" * 20000 + "'\n", "size", 3),
        ("def label_function(text, other):\n    return 0\n", "entry-point", 1),
        ("def label_function(*texts):\n    return 0\n", "entry-point", 1),
        ("def labeler(text):\n    return 0\n", "entry-point", 0),
        ("def label_function(text)\n    return 0\n", "syntax", 1),
        ("import re\nre.compile = None\ndef label_function(text):\n    return 0\n", "attribute-assignment", 2),
        ("from . import x\ndef label_function(text):\n    return 0\n", "import", 1),
    ],
)
def test_rules_name_the_problem_and_the_line(src: str, rule: str, line: int) -> None:
    report = validate(src)
    assert not report.ok
    hits = [i for i in report.issues if i.rule == rule]
    assert hits, report.issues
    assert hits[0].line == line
    assert rule in report.summary()


def test_whole_source_size_cap() -> None:
    src = "def label_function(text):\n    return 0\n" + "# pad\n" * 20000
    report = validate(src, Policy.default())
    assert not report.ok and report.issues[0].rule == "size"


def test_unicode_normalised_names_are_seen_as_written() -> None:
    # Fullwidth letters normalise (NFKC) to `eval`; the check sees what Python runs.
    report = validate("def label_function(text):\n    return ｅｖａｌ('0')\n")
    assert not report.ok
    assert "`eval`" in report.issues[0].message


def test_messages_tell_the_llm_what_is_allowed() -> None:
    report = validate("import requests\ndef label_function(text):\n    return 0\n")
    msg = report.issues[0].message
    assert "requests" in msg and "re" in msg and "collections" in msg


def test_report_is_json_serialisable() -> None:
    report = validate("import os\nimport sys\ndef label_function(text):\n    return os and sys and 0\n")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert {i["rule"] for i in data["issues"]} == {"import"}
    assert "(+1 more)" in report.summary()
    assert isinstance(report, ValidationReport) and isinstance(report.issues[0], Issue)


def test_policy_extend_allows_more_without_mutating_default() -> None:
    src = "import json\ndef label_function(text):\n    return 1 if json.loads(text) else 0\n"
    assert not validate(src).ok
    wider = Policy.default().extend(modules={"json": ["loads"]})
    assert validate(src, wider).ok
    assert "json" not in Policy.default().modules
    merged = wider.extend(modules={"re": ["template"]})
    assert "compile" in merged.modules["re"] and "template" in merged.modules["re"]
    with pytest.raises(ValueError):
        Policy.default().extend(nodes=["NotANode"])


def test_policy_round_trips_through_dict() -> None:
    pol = Policy.default().extend(builtins=["print"])
    again = Policy.from_dict(json.loads(json.dumps(pol.to_dict())))
    assert again == pol


def test_restricted_python_is_a_second_opinion() -> None:
    # Allowed by a widened AST policy, still refused by RestrictedPython's transformer.
    wide = Policy.default().extend(builtins=["exec"])
    report = validate("def label_function(text):\n    exec('x = 1')\n    return 0\n", wide)
    assert not report.ok
    assert report.issues[0].rule == "restricted"

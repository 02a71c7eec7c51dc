"""Lowered kernels return exactly what CPython returns, row by row (or hand the row back).

The programs here are our own fixtures, so the tests run them with plain ``exec``: that
is the reference the kernels are held to. Texts come from hypothesis, mixing the
fixtures' keywords with arbitrary Unicode (case-folding traps like 'İ', 'K', 'ß',
separators like '\\x1c' and '\\xa0').
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from alchemist_engine.sandbox.lower import explain, lower, run_many, translate_regex, warm_up
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYWORDS = [
    "subscribe", "Check out", "check", "out", "my", "channel", "http://", "https://",
    "www.", ".com", "free", "FREE", "win", "love", "song", "song!", "great", "bad",
    "awful", "money", "$", "!!!", "?", "...", ":)", "<3", "please", "a", "the",
]
TRAPS = ["İ", "K", "ß", "ﬀ", "é", "É", "\x1c", "\x85", "\xa0", "\u2028", "ǅ", "ı", "ſ", "Σ", "\t", "\n", " "]
CHUNKS = KEYWORDS + TRAPS + [" ", "  ", "\n", "ABC", "123", "x", "!!", "Http://", "SUBSCRIBE"]

ascii_text = st.lists(st.sampled_from([k for k in CHUNKS if k.isascii()]), max_size=14).map("".join)
mixed_text = st.lists(st.sampled_from(CHUNKS) | st.text(max_size=3), max_size=14).map("".join)
texts = st.lists(ascii_text | mixed_text | st.text(max_size=40), min_size=0, max_size=40)

PROGRAMS: dict[str, str] = {
    "keywords": '''
SPAM = ["subscribe", "check out", "my channel", "http", "free"]
def label_function(text):
    t = text.lower()
    score = 0
    for w in SPAM:
        if w in t:
            score += 1
    if score >= 2:
        return 1
    elif score == 1 and "!" in text:
        return 1
    return -1
''',
    "any_all": '''
def label_function(text):
    if any(k in text for k in ["http", "www.", ".com"]):
        return 1
    if all(w not in text.lower() for w in ("subscribe", "channel")) and len(text) < 15:
        return 0
    return -1
''',
    "caps_ratio": '''
def label_function(text):
    caps = sum(1 for c in text if c.isupper())
    letters = sum(c.isalpha() for c in text)
    if letters > 0 and caps / letters > 0.6:
        return 1
    if len(text) == 0:
        return -1
    return 0 if sum(1 for ch in text if ch in "!?") / len(text) < 0.1 else 1
''',
    "regex": r'''
import re
URL = re.compile(r"\bhttps?://\S+|www\.\w+", re.IGNORECASE)
def label_function(text):
    if URL.search(text):
        return 1
    if re.match(r"\s*(great|love|nice)\b", text, re.I):
        return 0
    if re.fullmatch(r"[a-z ]{1,12}[.!]?", text):
        return 0
    if re.search(r"\d{2,}\s*\$|\$\s*\d+$", text) is not None:
        return 1
    return -1
''',
    "words": '''
def label_function(text):
    words = text.lower().split()
    if len(words) < 3:
        return -1
    if "subscribe" in words or "free" in words:
        return 1
    n = len(text.split())
    return 0 if n > 6 else -1
''',
    "strip_affix": '''
def label_function(text):
    s = text.strip()
    if s.startswith(("Check", "check")) or s.endswith("!!!"):
        return 1
    if s == "":
        return -1
    if text.rstrip().endswith("?") or text.lstrip().startswith(":)"):
        return 0
    return -1
''',
    "counts": '''
def label_function(text):
    bangs = text.count("!")
    qs = text.count("?") + text.count("...")
    total = bangs * 2 + qs - text.count("")
    if bangs >= 3 or total > 2:
        return 1
    if text.upper() == text and text.lower() != text:
        return 1
    return 0 if bangs == 0 else -1
''',
    "division_fault": '''
def label_function(text):
    # raises ZeroDivisionError on empty text: a fault, the interpreter's to report
    return 1 if text.count("a") / len(text) > 0.2 else 0
''',
    "unbound_and_none": '''
def label_function(text):
    if "song" in text:
        label = 0
    elif "free" in text:
        label = 1
    if "love" in text:
        return None
    return label
''',
    "loop_break_continue": '''
KW = ["win", "money", "free", "$"]
def label_function(text):
    hits = 0
    for k in KW:
        if k == "win" and "song" in text:
            continue
        if k in text:
            hits += 1
            if hits >= 2:
                break
    return min(hits, 1) if hits else -1
''',
    "string_consts": '''
import string
from string import punctuation as P
def label_function(text):
    p = sum(1 for c in text if c in P)
    d = sum(1 for c in text if c in string.digits)
    if p > 3 and not d:
        return 1
    if text.isdigit() or text.isupper():
        return 0
    if any(c.isdigit() for c in text) and not all(c.isspace() or c.isalnum() for c in text):
        return 1
    return -1
''',
    "ifexp_and_or": '''
def label_function(text):
    long_ = len(text) > 30
    shouty = text.count("!") > 1
    flag = long_ and shouty
    if flag or (not long_ and "?" in text):
        return 1 if shouty else 0
    return -1 if text and not text.endswith(" ") else 0
''',
    "membership_seq": '''
def label_function(text):
    t = text.strip().lower()
    if t in ["love", "great", "song", ""]:
        return 0
    if len(t) in (1, 2, 3):
        return 1
    return -1
''',
    "floats": '''
def label_function(text):
    n = len(text) + 0.5
    x = text.count(" ") / n * 3 - 0.25
    if x >= 0.5:
        return 1
    if len(text) // 7 % 3 == 2:
        return 0
    return abs(int(x > 0.1)) - 1
''',
}

PROGRAMS["word_loops"] = '''
SPAM = ["free", "win", "subscribe", "$"]
def label_function(text):
    words = text.lower().split()
    for w in words:
        if w in ["love", "song", "song!"]:
            return 0
    score = 0
    for w in words:
        if w in SPAM:
            score += 2
    n = sum(1 for w in text.split() if w in ("check", "out", "a"))
    if any(w == "http://" for w in words) or score + n >= 3:
        return 1
    return n - 1 if n < 2 else -1
'''

NOT_LOWERABLE = {
    "helper": "def f(x):\n    return 1\ndef label_function(text):\n    return f(text)\n",
    "loop_over_words": "def label_function(text):\n    for w in text.split():\n        if w.startswith('a'):\n            return 1\n    return 0\n",
    "returns_bool": "def label_function(text):\n    return 'a' in text\n",
    "while": "def label_function(text):\n    while True:\n        return 1\n",
    "import_os": "import os\ndef label_function(text):\n    return 1\n",
    "subscript": "def label_function(text):\n    return 1 if text[0] == 'a' else 0\n",
    "lookbehind": "import re\ndef label_function(text):\n    return 1 if re.search(r'(?<=a)b', text) else 0\n",
    "backref": "import re\ndef label_function(text):\n    return 1 if re.search(r'(a)\\1', text) else 0\n",
    "str_value_and": "def label_function(text):\n    x = text and 'a'\n    return 1 if x else 0\n",
}


def _reference(src: str) -> Any:
    ns: dict[str, Any] = {}
    exec(compile(src, "<fixture>", "exec"), ns)  # our own fixture, see the module doc
    return ns["label_function"]


def _buffers(values: list[str], large: bool = True) -> tuple[np.ndarray, np.ndarray]:
    arr = pa.array(values, pa.large_string() if large else pa.string())
    odt = np.int64 if large else np.int32
    offsets = np.frombuffer(arr.buffers()[1], odt)[arr.offset : arr.offset + len(values) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _check(src: str, values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    prog = lower(src)
    assert prog is not None, explain(src)
    votes, fallback = prog.run(*_buffers(values))
    fn = _reference(src)
    for i, t in enumerate(values):
        try:
            expected: Any = fn(t)
        except Exception:  # noqa: BLE001
            expected = "fault"
        if fallback[i]:
            continue
        assert type(expected) is int, (t, expected)
        assert votes[i] == expected, (t, votes[i], expected)
    return votes, fallback


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warm_up()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_fixture_is_lowered(name: str) -> None:
    assert explain(PROGRAMS[name]) is None


@pytest.mark.parametrize("name", sorted(NOT_LOWERABLE))
def test_other_shapes_run_interpreted(name: str) -> None:
    assert lower(NOT_LOWERABLE[name]) is None
    assert explain(NOT_LOWERABLE[name])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=texts)
def test_lowered_equals_interpreted(name: str, values: list[str]) -> None:
    _check(PROGRAMS[name], values)


@pytest.mark.parametrize("name", sorted(set(PROGRAMS) - {"division_fault", "unbound_and_none"}))
@settings(max_examples=10, deadline=None)
@given(values=st.lists(ascii_text, max_size=30))
def test_ascii_rows_never_fall_back(name: str, values: list[str]) -> None:
    # Fallback is for Unicode and faults only; otherwise lowering would gain nothing.
    _, fallback = _check(PROGRAMS[name], values)
    assert not fallback.any()


def test_faults_and_none_go_to_the_interpreter() -> None:
    _, fb = _check(PROGRAMS["division_fault"], ["", "aaa", "bcd"])
    assert fb.tolist() == [True, False, False]
    _, fb = _check(PROGRAMS["unbound_and_none"], ["a song", "free", "zzz", "love song"])
    assert fb.tolist() == [False, False, True, True]


def test_non_ascii_rows_fall_back_only_where_unicode_matters() -> None:
    # keyword tests on text.lower() stay exact unless a char folds into ASCII ('İ', 'K')
    _, fb = _check(PROGRAMS["keywords"], ["İ", "check out my channel", "héllo", "\u212a"])
    assert fb.tolist() == [True, False, False, True]
    _, fb = _check(PROGRAMS["any_all"], ["héllo http", "ß", "é"])  # ß.upper() == 'SS'
    assert fb.tolist() == [False, True, False]
    _, fb = _check(PROGRAMS["strip_affix"], ["é ", "\xa0é", "x\u3000"])  # Unicode spaces
    assert fb.tolist() == [False, True, True]
    # Python's re answers non-ASCII rows of regexes, 'K' (Kelvin) under IGNORECASE too
    _, fb = _check(PROGRAMS["regex"], ["é", "abc", "\u212a", "www.\u212a", "١٢ $", "great\xa0"])
    assert not fb.any()
    src = "import re\ndef label_function(t):\n    return 1 if re.search(r'^k\\w', t.lower().strip()) else 0\n"
    votes, fb = _check(src, ["\u212aé", " Ké", "ké", "İx"])
    assert votes.tolist() == [1, 1, 1, 0] and not fb.any()
    _, fb = _check(PROGRAMS["words"], ["é a b c", "subscribe\xa0now x y"])
    assert fb.tolist() == [False, True]
    # char classes of the text itself use Unicode tables built from Python's answers
    votes, fb = _check(PROGRAMS["caps_ratio"], ["ÉÉÉÉé", "ǅǅx", "١٢٣", "ΣΣΣσ!?"])
    assert not fb.any()
    _, fb = _check(PROGRAMS["string_consts"], ["ÀÉ", "ǅ", "١٢", "x١"])
    assert not fb.any()
    prog = lower("def label_function(t):\n    return 1 if 'é' in t or len(t) > 3 else 0\n")
    assert prog is not None
    votes, fb = prog.run(*_buffers(["é", "ab", "abcdé", "ÉÉÉ"]))
    assert votes.tolist() == [1, 0, 1, 0] and not fb.any()


def test_offsets_int32_sliced_and_empty() -> None:
    src = PROGRAMS["regex"]
    prog = lower(src)
    assert prog is not None
    values = ["www.x", "great song", "12 $", "nothing here", "", "Love it"]
    full = pa.array(values, pa.string()).slice(2)
    offs = np.frombuffer(full.buffers()[1], np.int32)[full.offset : full.offset + len(full) + 1]
    data = np.frombuffer(full.buffers()[2], np.uint8)
    votes, fb = prog.run(offs, data)
    fn = _reference(src)
    assert votes.tolist() == [fn(v) for v in values[2:]] and not fb.any()
    votes, fb = prog.run(np.zeros(1, np.int64), np.zeros(0, np.uint8))
    assert votes.shape == (0,) and fb.shape == (0,)


def test_programs_share_work_in_one_batch() -> None:
    progs = [lower(PROGRAMS[n]) for n in ("keywords", "words", "caps_ratio")]
    assert all(p is not None for p in progs)
    values = ["Check out my channel, it's FREE", "love this song", "WOW"]
    results = run_many([p for p in progs if p is not None], *_buffers(values))
    for name, (votes, fb) in zip(("keywords", "words", "caps_ratio"), results, strict=True):
        fn = _reference(PROGRAMS[name])
        assert votes.tolist() == [fn(v) for v in values] and not fb.any()


REGEXES = [
    r"\bfree\b", r"^\s*hi", r"(?:a|bc)+d?$", r"[^a-z0-9]{3}", r"x.y", r"\d+\.\d*",
    r"\Bout", r"[A-F]{2,4}?Z", r"\w+@\w+\.com\Z", r"(ab|a)(c|bcd)", r"[\s\S]", r"a{0,2}b{3}",
    r"[\W_]", r"^$", r"\$\d",
]


@pytest.mark.parametrize("pattern", REGEXES)
@pytest.mark.parametrize("flags", [0, 2])  # re.IGNORECASE
@settings(max_examples=12, deadline=None)
@given(values=st.lists(st.text(alphabet="abcdxyzABFZ_0129.$@ \n\t\x1c\x0bfreoutiméÉ١\xa0\u212aİſ\u3000", max_size=12), max_size=20))
def test_regex_translation_is_exact(pattern: str, flags: int, values: list[str]) -> None:
    for mode in ("search", "match", "fullmatch"):
        src = f"import re\ndef label_function(t):\n    return 1 if re.{mode}({pattern!r}, t, {flags}) else 0\n"
        _check(src, values)
    assert translate_regex(pattern, flags, "search")

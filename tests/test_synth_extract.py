"""Code extraction from every reply shape, and the normalized-AST dedupe hash."""

from __future__ import annotations

from alchemist_engine.engine.extract import extract_programs, normalized_hash
from hypothesis import given, settings
from hypothesis import strategies as st

FN = "def label_function(text):\n    return 1 if 'sub' in text else -1\n"


def test_single_fenced_block_with_prose() -> None:
    reply = f"Sure! Here it is:\n\n```python\n{FN}```\n\nThis catches subscribe spam."
    assert extract_programs(reply) == [FN]


def test_unfenced_code_with_prose_after() -> None:
    reply = f"Here you go:\n{FN}\nThis function abstains otherwise, which is good."
    assert extract_programs(reply) == [FN]


def test_helper_block_is_prepended_to_the_function_block() -> None:
    reply = "```python\nimport re\nPAT = re.compile('x')\n```\nthen\n```py\n" + FN + "```"
    (prog,) = extract_programs(reply)
    assert prog.startswith("import re\nPAT") and "def label_function" in prog


def test_several_alternative_functions_become_several_programs() -> None:
    other = FN.replace("'sub'", "'http'")
    reply = f"Option A:\n```python\n{FN}```\nOption B:\n```python\n{other}```"
    assert extract_programs(reply) == [FN, other]


def test_non_python_blocks_are_ignored() -> None:
    reply = f"```bash\npip install x\n```\n```\n{FN}```"
    assert extract_programs(reply) == [FN]


def test_unclosed_fence_and_truncated_tail() -> None:
    reply = f"```python\n{FN}\ndef helper(x):\n    return ("
    (prog,) = extract_programs(reply)
    assert prog.strip() == FN.strip()


def test_broken_code_is_kept_so_validation_can_name_the_syntax_error() -> None:
    broken = "def label_function(text)\n    return -1\n"
    assert extract_programs(f"```python\n{broken}```") == [broken]


def test_no_code_at_all() -> None:
    assert extract_programs("I am sorry, spam often mentions channels.") == []
    assert extract_programs("```python\nx = 1\n```") == []


def test_hash_ignores_comments_docstrings_formatting_and_local_names() -> None:
    a = 'def label_function(text):\n    """Spam."""\n    t = text.lower()  # fold\n    return 1 if "x" in t else -1\n'
    b = "def label_function(s):\n    low = s.lower()\n\n    return (1 if 'x' in low else -1)\n"
    assert normalized_hash(a) == normalized_hash(b)


def test_hash_sees_real_differences() -> None:
    a = "def label_function(text):\n    return 1 if 'x' in text else -1\n"
    assert normalized_hash(a) != normalized_hash(a.replace("'x'", "'y'"))
    assert normalized_hash(a) != normalized_hash(a.replace("return 1", "return 0"))
    assert normalized_hash("def broken(") != normalized_hash("def broken(:")


_words = st.lists(st.text(alphabet="abcdefghij klm!?$", min_size=1, max_size=12), min_size=1, max_size=5)
_prose = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.!?\n", max_size=80).filter(
    lambda t: not any(line.strip().startswith(("def", "import", "from", "class")) for line in t.splitlines()))


@given(words=_words, vote=st.sampled_from([0, 1]), before=_prose, after=_prose,
       wrap=st.sampled_from(["python", "py", "", "none"]))
@settings(max_examples=150, deadline=None)
def test_any_wrapping_round_trips(words: list[str], vote: int, before: str, after: str, wrap: str) -> None:
    prog = (f"KEYWORDS = {words!r}\n\ndef label_function(text):\n"
            f"    return {vote} if any(k in text for k in KEYWORDS) else -1\n")
    if wrap == "none":
        reply = f"{before}\n\n{prog}\n\n{after}"
    else:
        reply = f"{before}\n```{wrap}\n{prog}```\n{after}"
    (got,) = extract_programs(reply)
    assert normalized_hash(got) == normalized_hash(prog)

"""Short, readable, unique labeler ids: ``<task>-<word>-<hash prefix>``, e.g. ``youtube-subscribe-3f9a2c``.

The word is the first telling word among the program's string literals (usually its first
keyword), else among its identifiers, so a listing hints at what each labeler looks for.
The hash prefix is the start of the program's sha256; it grows until the id is free.
"""

from __future__ import annotations

import ast
import re

from ..labelers import content_hash

_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_SAFE = re.compile(r"[^a-z0-9]+")
#: Names and words that appear in nearly every program and so say nothing about it.
_BORING = frozenset(
    "text label function return lower upper strip split true false none any all len "
    "for the and not str int def import abstain keywords keyword words word count "
    "self score spam ham positive negative neutral".split()
)
_MIN_PREFIX = 6
_MAX_WORD = 12

#: What a valid id or task name looks like (it becomes a file and directory name in git).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def slug(text: str) -> str:
    s = _SAFE.sub("-", text.lower()).strip("-")
    return s or "task"


def program_word(source: str) -> str:
    """The first telling word of a program, lowercase ASCII; ``"lf"`` when none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    strings: list[str] = []
    names: list[str] = []
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                # Skip docstrings/prompts: long strings are prose, not keywords.
                if len(node.value) <= 40:
                    strings.append(node.value)
            elif isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, ast.FunctionDef) and node.name != "label_function":
                names.append(node.name)
    for pool in (strings, names):
        for text in pool:
            for w in _WORD.findall(text.lower()):
                if w not in _BORING:
                    return w[:_MAX_WORD]
    return "lf"


def make_id(task: str, source: str, taken: set[str]) -> str:
    """A fresh id for ``source`` in ``task`` that is not in ``taken``."""
    base = f"{slug(task)}-{program_word(source)}-"
    digest = content_hash(source)
    for n in range(_MIN_PREFIX, len(digest) + 1, 2):
        candidate = base + digest[:n]
        if candidate not in taken:
            return candidate
    # The same program committed twice under distinct ids: number the copies.
    i = 2
    while f"{base}{digest[:_MIN_PREFIX]}-{i}" in taken:
        i += 1
    return f"{base}{digest[:_MIN_PREFIX]}-{i}"

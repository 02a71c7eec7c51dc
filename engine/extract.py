"""Pull Python programs out of LLM replies, and hash them modulo formatting.

Replies come in every shape: one fenced block, several blocks (helpers then the
function, or several alternative functions), no fences with prose around the code,
a truncated tail. :func:`extract_programs` returns one source text per distinct
``label_function`` definition it finds; :func:`normalized_hash` identifies programs
that differ only in comments, docstrings, formatting or local variable names.
"""

from __future__ import annotations

import ast
import hashlib
import re

from ..labelers import ENTRY_POINT

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_DEF = re.compile(rf"^(?:async\s+)?def\s+{ENTRY_POINT}\s*\(", re.M)
_CODE_START = re.compile(r"^(?:import |from \S+ import |def |class |[A-Z_][A-Z0-9_]*\s*=)", re.M)


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines_entry(src: str) -> bool:
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        # Broken code that clearly meant to define the entry point is still a candidate:
        # validation then rejects it with the syntax error, a reason the user can read.
        return _DEF.search(src) is not None
    return any(
        isinstance(n, ast.FunctionDef) and n.name == ENTRY_POINT for n in tree.body
    )


def _longest_parsable_prefix(lines: list[str]) -> str | None:
    """Trim trailing prose (or a truncated tail) until the code parses."""
    for end in range(len(lines), 0, -1):
        src = "\n".join(lines[:end]).rstrip()
        if src and _parses(src):
            return src
    return None


def _unfenced(text: str) -> list[str]:
    m = _CODE_START.search(text)
    if not m:
        return []
    src = _longest_parsable_prefix(text[m.start() :].splitlines())
    if not src:
        return []
    # Prose after the code can parse too ("Enjoy" is a Name): trailing bare expressions
    # at module level are not part of a labeling program.
    body = ast.parse(src).body
    while body and isinstance(body[-1], ast.Expr):
        body.pop()
    if not body:
        return []
    end = body[-1].end_lineno or len(src.splitlines())
    return ["\n".join(src.splitlines()[:end])]


def extract_programs(reply: str) -> list[str]:
    """Every candidate program in ``reply`` (possibly empty).

    Fenced blocks win; a block without ``label_function`` (imports, constants,
    helpers) is prepended to the next block that defines it. Without fences, code
    starts at the first import/def/CONSTANT line and ends where it stops parsing.
    """
    blocks = []
    for m in _FENCE.finditer(reply):
        lang = m.group(1).lower()
        if lang and lang not in ("python", "py", "python3"):
            continue
        body = m.group(2).strip("\n")
        if not _parses(body):
            trimmed = _longest_parsable_prefix(body.splitlines()) or ""
            if _defines_entry(trimmed) or not _DEF.search(body):
                body = trimmed
        if body.strip():
            blocks.append(body)
    if not blocks:
        blocks = _unfenced(reply)
    programs: list[str] = []
    pending: list[str] = []
    for block in blocks:
        if _defines_entry(block):
            programs.append("\n\n".join([*pending, block]).strip() + "\n")
            pending = []
        else:
            pending.append(block)
    if not programs and _DEF.search(reply):
        # A fenced block that was cut mid-way may hide a definition in plain text.
        programs = [p.strip() + "\n" for p in _unfenced(reply) if _defines_entry(p)]
    return programs


class _Normalize(ast.NodeTransformer):
    """Drop docstrings; rename each function's arguments and locals to v0, v1, ..."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        mapping: dict[str, str] = {}
        for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            mapping.setdefault(a.arg, f"v{len(mapping)}")
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                mapping.setdefault(sub.id, f"v{len(mapping)}")
        for sub in ast.walk(node):
            if isinstance(sub, ast.arg) and sub.arg in mapping:
                sub.arg = mapping[sub.arg]
            elif isinstance(sub, ast.Name) and sub.id in mapping:
                sub.id = mapping[sub.id]
        node.body = _strip_docstring(node.body) or [ast.Pass()]
        self.generic_visit(node)
        return node


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def normalized_hash(source: str) -> str:
    """sha256 of the normalized AST; falls back to the raw text if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return hashlib.sha256(source.encode("utf-8")).hexdigest()
    tree.body = _strip_docstring(tree.body)
    tree = _Normalize().visit(tree)
    dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode("utf-8")).hexdigest()

"""Static validation of a generated program: an AST allow-list, nothing executed.

Every issue names a rule, a line and a message an LLM can act on ("`open` is not
available; ..."), so synth can send the report back for repair. Passing validation is
necessary, never sufficient: the program still only ever runs inside a sandbox worker.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from RestrictedPython import compile_restricted_exec

from ..labelers import ENTRY_POINT
from .policy import Policy


@dataclass(frozen=True)
class Issue:
    """One reason a program is refused: ``rule`` is a stable key, ``line`` 1-based (0: whole file)."""

    rule: str
    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "line": self.line, "message": self.message}


@dataclass
class ValidationReport:
    ok: bool
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "issues": [i.to_dict() for i in self.issues]}

    def summary(self) -> str:
        if self.ok:
            return "ok"
        first = self.issues[0]
        more = f" (+{len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        return f"line {first.line}: {first.message} [{first.rule}]{more}"


def validate(source: str, policy: Policy | None = None) -> ValidationReport:
    """Check ``source`` against ``policy`` (default: :meth:`Policy.default`)."""
    pol = policy or Policy.default()
    issues: list[Issue] = []
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > pol.max_source_bytes:
        issues.append(Issue("size", 0, f"program is {size} bytes; the limit is {pol.max_source_bytes}: write a shorter function"))
        return ValidationReport(False, issues)
    try:
        tree = ast.parse(source, "<labeler>", "exec")
    except SyntaxError as exc:
        msg = f"syntax error: {exc.msg}"
        return ValidationReport(False, [Issue("syntax", exc.lineno or 0, msg)])
    except ValueError as exc:  # e.g. null bytes in the source
        return ValidationReport(False, [Issue("syntax", 0, f"unparsable source: {exc}")])
    _Checker(pol, issues).check(tree)
    if not issues:
        # RestrictedPython's own transformer is a second opinion from independent code.
        result = compile_restricted_exec(source, "<labeler>")
        for err in result.errors:
            issues.append(Issue("restricted", _line_of(err), f"RestrictedPython refused it: {err}"))
    return ValidationReport(not issues, issues)


def _line_of(message: str) -> int:
    # RestrictedPython formats errors as "Line N: ..."
    head = message.split(":", 1)[0]
    digits = head.replace("Line", "").strip()
    return int(digits) if digits.isdigit() else 0


class _Checker:
    def __init__(self, policy: Policy, issues: list[Issue]) -> None:
        self.p = policy
        self.issues = issues
        self.nodes = set(policy.nodes)
        self.builtins = set(policy.builtins)
        self.forbidden = set(policy.forbidden_attributes)
        self.aliases: dict[str, str] = {}  # local name -> module name

    def add(self, rule: str, node: ast.AST | None, message: str) -> None:
        line = int(getattr(node, "lineno", 0) or 0)
        if len(self.issues) < 50 and Issue(rule, line, message) not in self.issues:
            self.issues.append(Issue(rule, line, message))

    def check(self, tree: ast.Module) -> None:
        count = sum(1 for _ in ast.walk(tree))
        if count > self.p.max_nodes:
            self.add("size", None, f"program has {count} syntax nodes; the limit is {self.p.max_nodes}")
            return
        bound = self._bound_names(tree)
        for node in ast.walk(tree):
            self._node(node, bound)
        self._entry_point(tree)

    def _bound_names(self, tree: ast.Module) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.alias):
                local = node.asname or node.name.split(".")[0]
                names.add(local)
        return names

    def _node(self, node: ast.AST, bound: set[str]) -> None:
        kind = type(node).__name__
        if kind not in self.nodes:
            self.add("syntax-form", node, f"`{kind}` is not allowed in a labeling program; use plain functions, loops, conditions and comprehensions")
            return
        if isinstance(node, ast.Name):
            self._name(node.id, node)
            if isinstance(node.ctx, ast.Load) and node.id not in bound and node.id not in self.builtins:
                self.add("builtin", node, f"`{node.id}` is not available; allowed builtins are {', '.join(sorted(b for b in self.builtins if b[0].islower()))}")
        elif isinstance(node, ast.Attribute):
            self._name(node.attr, node)
            if isinstance(node.ctx, ast.Store | ast.Del):
                self.add("attribute-assignment", node, f"assigning or deleting `.{node.attr}` is not allowed: keep state in local variables, lists or dicts")
            if node.attr in self.forbidden:
                self.add("attribute", node, f"attribute `.{node.attr}` is not allowed (introspection or format-string access); use f-strings or + to build strings")
            if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
                mod = self.aliases[node.value.id]
                if node.attr not in self.p.modules.get(mod, []):
                    self.add("module-attribute", node, f"`{mod}.{node.attr}` is not available; `{mod}` exposes {', '.join(self.p.modules.get(mod, []))}")
        elif isinstance(node, ast.FunctionDef):
            self._name(node.name, node)
        elif isinstance(node, ast.arg):
            self._name(node.arg, node)
        elif isinstance(node, ast.keyword) and node.arg:
            self._name(node.arg, node)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self._name(node.name, node)
        elif isinstance(node, ast.Import):
            for a in node.names:
                self._import(a.name, node)
                self.aliases[a.asname or a.name] = a.name
                if a.asname:
                    self._name(a.asname, node)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                self.add("import", node, "relative imports are not allowed")
            elif self._import(mod, node):
                for a in node.names:
                    if a.name == "*":
                        self.add("import", node, f"`from {mod} import *` is not allowed; import the names you use")
                    elif a.name not in self.p.modules[mod]:
                        self.add("module-attribute", node, f"`{mod}.{a.name}` is not available; `{mod}` exposes {', '.join(self.p.modules[mod])}")
                    if a.asname:
                        self._name(a.asname, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            if len(node.value) > self.p.max_literal_bytes:
                self.add("size", node, f"a literal of {len(node.value)} characters exceeds {self.p.max_literal_bytes}")

    def _name(self, name: str, node: ast.AST) -> None:
        if name.startswith("_"):
            self.add("underscore", node, f"names starting with `_` (`{name}`) are not allowed: they reach interpreter internals")

    def _import(self, module: str, node: ast.AST) -> bool:
        if module not in self.p.modules:
            self.add("import", node, f"module `{module}` cannot be imported; allowed modules are {', '.join(sorted(self.p.modules))}")
            return False
        return True

    def _entry_point(self, tree: ast.Module) -> None:
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ENTRY_POINT]
        if not defs:
            self.add("entry-point", None, f"define a top-level function `def {ENTRY_POINT}(text):` returning a class id or -1")
            return
        a = defs[-1].args
        positional = len(a.posonlyargs) + len(a.args)
        if positional != 1 or a.vararg or a.kwarg or a.kwonlyargs:
            self.add("entry-point", defs[-1], f"`{ENTRY_POINT}` must take exactly one positional argument (the text)")

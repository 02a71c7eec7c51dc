"""What a generated labeling program may contain: an allow-list kept as plain data.

The same :class:`Policy` drives two layers. :func:`~.validate.validate` checks the AST
on the host before anything runs, and the worker builds its import proxies and builtins
from ``Policy.to_dict()`` (sent in the setup frame), so extending the policy in one
place extends both. Everything not listed is refused: a new module, builtin or syntax
form has to be added deliberately.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Any

# Attributes each importable module exposes. A program gets a proxy holding only these,
# never the real module: the real ``re`` leaks ``os`` through ``re.enum.sys``.
_RE = [
    "compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn",
    "split", "escape", "purge", "error",
    "IGNORECASE", "I", "MULTILINE", "M", "DOTALL", "S", "VERBOSE", "X", "ASCII", "A",
    "UNICODE", "U", "NOFLAG",
]
_STRING = [
    "ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits", "hexdigits",
    "octdigits", "punctuation", "printable", "whitespace", "capwords",
]
_MATH = [
    "ceil", "floor", "trunc", "fabs", "sqrt", "exp", "log", "log2", "log10", "pow",
    "isclose", "isfinite", "isinf", "isnan", "inf", "nan", "pi", "e", "fsum", "prod",
    "gcd", "copysign", "tanh", "sin", "cos", "atan", "hypot",
]
_COLLECTIONS = ["Counter", "defaultdict", "OrderedDict", "deque", "namedtuple"]
_ITERTOOLS = [
    "chain", "islice", "groupby", "combinations", "permutations", "product", "pairwise",
    "zip_longest", "accumulate", "takewhile", "dropwhile", "starmap", "compress",
]
_FUNCTOOLS = ["reduce", "partial", "lru_cache", "cache"]
_UNICODEDATA = ["normalize", "category", "name", "combining", "east_asian_width"]
_STATISTICS = ["mean", "median", "mode", "pstdev", "stdev"]

DEFAULT_MODULES: dict[str, list[str]] = {
    "re": _RE,
    "string": _STRING,
    "math": _MATH,
    "collections": _COLLECTIONS,
    "itertools": _ITERTOOLS,
    "functools": _FUNCTOOLS,
    "unicodedata": _UNICODEDATA,
    "statistics": _STATISTICS,
}

# Pure builtins. Absent on purpose: open, exec, eval, compile, __import__ (imports go
# through the proxy importer), globals, locals, vars, dir, getattr/setattr/delattr,
# type, object, super, memoryview, print, input, help, breakpoint, classmethod, property.
DEFAULT_BUILTINS: list[str] = [
    "abs", "all", "any", "bool", "chr", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "hash", "int", "isinstance", "len", "list", "map", "max", "min", "ord",
    "pow", "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum",
    "tuple", "zip", "bytes", "callable", "hex", "oct", "bin", "iter", "next",
    "True", "False", "None",
    "Exception", "ValueError", "TypeError", "KeyError", "IndexError", "AttributeError",
    "ZeroDivisionError", "StopIteration", "LookupError", "ArithmeticError",
    "UnicodeError", "RuntimeError",
]

# Syntax forms a labeler may use. Missing on purpose: ClassDef (metaclass and dunder
# games), Global/Nonlocal, Yield/YieldFrom/Await/async (frame and generator
# introspection), Delete, With (context managers need objects we never hand out),
# Starred assignment targets are fine; decorators are checked by name below.
DEFAULT_NODES: list[str] = [
    "Module", "FunctionDef", "arguments", "arg", "Return", "Assign", "AugAssign",
    "AnnAssign", "For", "While", "If", "Break", "Continue", "Pass", "Expr", "Try",
    "ExceptHandler", "Raise", "Assert", "Import", "ImportFrom", "alias", "Lambda",
    "BoolOp", "BinOp", "UnaryOp", "IfExp", "Dict", "Set", "List", "Tuple",
    "ListComp", "SetComp", "DictComp", "GeneratorExp", "comprehension", "Compare",
    "Call", "keyword", "Constant", "Attribute", "Subscript", "Slice", "Name",
    "Starred", "JoinedStr", "FormattedValue", "NamedExpr",
    "Load", "Store", "Del",
    "And", "Or", "Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow", "LShift",
    "RShift", "BitOr", "BitXor", "BitAnd", "MatMult", "Invert", "Not", "UAdd", "USub",
    "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
]

# Attribute names refused even though they do not start with "_": frame, code,
# generator and traceback introspection (RestrictedPython's INSPECT_ATTRIBUTES plus
# what the format-string and C-level tricks use).
DEFAULT_FORBIDDEN_ATTRIBUTES: list[str] = [
    "format", "format_map", "mro", "gi_frame", "gi_code", "gi_yieldfrom", "gi_running",
    "cr_frame", "cr_code", "cr_await", "cr_origin", "ag_frame", "ag_code", "ag_await",
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "f_generator",
    "tb_frame", "tb_next", "co_code", "func_globals", "with_traceback", "throw", "send",
]


@dataclass(frozen=True)
class Policy:
    """The allow-list: modules (with the attributes each exposes), builtins, AST nodes.

    Size caps keep a program small enough to review and to compile fast.
    ``Policy.default()`` is the engine's policy; build a variant with
    :meth:`extend`, e.g. ``Policy.default().extend(modules={"json": ["loads"]})``.
    """

    modules: dict[str, list[str]] = field(default_factory=dict)
    builtins: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    forbidden_attributes: list[str] = field(default_factory=list)
    max_source_bytes: int = 64 * 1024
    max_nodes: int = 20_000
    max_literal_bytes: int = 16 * 1024

    @classmethod
    def default(cls) -> Policy:
        return cls(
            modules={k: list(v) for k, v in DEFAULT_MODULES.items()},
            builtins=list(DEFAULT_BUILTINS),
            nodes=list(DEFAULT_NODES),
            forbidden_attributes=list(DEFAULT_FORBIDDEN_ATTRIBUTES),
        )

    def extend(
        self,
        *,
        modules: dict[str, list[str]] | None = None,
        builtins: list[str] | None = None,
        nodes: list[str] | None = None,
    ) -> Policy:
        """A copy allowing more; module attribute lists are merged, not replaced."""
        merged = {k: list(v) for k, v in self.modules.items()}
        for name, attrs in (modules or {}).items():
            merged[name] = sorted(set(merged.get(name, [])) | set(attrs))
        unknown = [n for n in nodes or [] if not hasattr(ast, n)]
        if unknown:
            raise ValueError(f"unknown AST node types {unknown}: use names from the ast module")
        return replace(
            self,
            modules=merged,
            builtins=sorted(set(self.builtins) | set(builtins or [])),
            nodes=sorted(set(self.nodes) | set(nodes or [])),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; this is what the worker receives in its setup frame."""
        return {
            "modules": {k: list(v) for k, v in self.modules.items()},
            "builtins": list(self.builtins),
            "nodes": list(self.nodes),
            "forbidden_attributes": list(self.forbidden_attributes),
            "max_source_bytes": self.max_source_bytes,
            "max_nodes": self.max_nodes,
            "max_literal_bytes": self.max_literal_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        base = cls.default().to_dict()
        base.update(data)
        return cls(**base)

"""Lower common labeler shapes to vectorized kernels over Arrow string buffers.

LLM-written labelers are mostly keyword lists, regexes, length, count and
capitalisation tests glued together by if/elif chains. ``lower(source)`` reads such a
program's AST and executes it *symbolically over all rows at once*: every value becomes
a node of a small column IR (``contains``, ``charcount``, ``regex``, ``where``, ...), control
flow becomes row masks, and the result is two nodes per program: the vote and the rows
that must fall back to the interpreter. Nodes are interned process-wide, so programs
that share ``text.lower()`` or a keyword share the work; keyword tests on the same string
are answered by one multi-needle pass.

Exactness is the contract: on every row a lowered program returns exactly what CPython
returns, or the row is flagged for the interpreter. Rows fall back where the column
semantics could differ: a non-ASCII row when the program case-folds, strips, splits,
tests character classes or runs a regex (Unicode rules there are not byte rules); a row
where an expression would raise (division by zero, unbound local); a row whose result
is not a small int (``None``, falling off the end).

The kernels are a fixed set of numba functions parameterised by tables (needles, char
classes), so nothing is compiled per program: the first batch in a process pays the
compile once (see ``warm_up``). Regexes of a safe subset are translated to RE2 syntax with
every class spelled out over ASCII and run by Arrow's vetted RE2 kernels on two threads.

This module runs inside the sandbox worker, which imports only numpy, numba, pyarrow
and RestrictedPython: it must not import alchemist_engine and stays one file so that
the worker can load it by path.
"""

from __future__ import annotations

import ast
import os
import re
import string as _string
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# numba is imported on the first kernel call, not with this module: the host imports
# lower.py only to read programs (which worker group gets them), and numba's import
# alone costs ~0.5 s there. Kernels are plain functions until _jit_all() compiles them.
nb: Any = None
_CACHE = False
_PY_KERNELS: dict[str, Callable[..., Any]] = {}
_JIT_LOCK = threading.Lock()


def _kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    _PY_KERNELS[fn.__name__] = fn

    def first_call(*args: Any) -> Any:
        _jit_all()
        return globals()[fn.__name__](*args)

    first_call.__name__ = fn.__name__
    return first_call


def _jit_all() -> None:
    global nb, _CACHE
    with _JIT_LOCK:
        if nb is not None:
            return
        import numba

        # OpenMP's spinning workers collapse when the machine is oversubscribed (20 ms
        # instead of 0.4 ms per kernel call measured here with other processes running);
        # the workqueue layer sleeps. Kernels are only launched from one thread, as it needs.
        numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
        # numba's on-disk cache needs a writable directory; inside the sandbox only a tmpfs
        # is, and the worker points NUMBA_CACHE_DIR there (seeded from the host's cache).
        cache_dir = os.environ.get("NUMBA_CACHE_DIR")
        _CACHE = bool(cache_dir) and os.access(cache_dir or "/nonexistent", os.W_OK)
        for name, fn in _PY_KERNELS.items():
            globals()[name] = numba.njit(parallel=True, nogil=True, cache=_CACHE)(fn)
        nb = numba


ENTRY_POINT = "label_function"

# ---------------------------------------------------------------------------- IR


class Node:
    """One column-valued expression; interned, so equal expressions are one object.

    ``kind``: ``S`` string view, ``B`` bool, ``I`` int64, ``F`` float64.
    ``args`` hold child Nodes and hashable constants (needle bytes, tables, patterns).
    """

    __slots__ = ("id", "op", "kind", "args")

    def __init__(self, nid: int, op: str, kind: str, args: tuple[Any, ...]) -> None:
        self.id = nid
        self.op = op
        self.kind = kind
        self.args = args

    def __repr__(self) -> str:
        inner = ", ".join(f"#{a.id}" if isinstance(a, Node) else repr(a) for a in self.args)
        return f"#{self.id}:{self.op}[{self.kind}]({inner})"


_INTERN: dict[tuple[Any, ...], Node] = {}
_INTERN_LOCK = threading.Lock()


def _key(a: Any) -> Any:
    if isinstance(a, Node):
        return ("n", a.id)
    return ("c", type(a).__name__, a)


def _mk(op: str, kind: str, *args: Any) -> Node:
    key = (op, kind) + tuple(_key(a) for a in args)
    with _INTERN_LOCK:
        node = _INTERN.get(key)
        if node is None:
            node = Node(len(_INTERN), op, kind, args)
            _INTERN[key] = node
        return node


TEXT = _mk("text", "S")

# A python constant or a Node; compile-time-only values (lists, patterns, modules) are
# wrapped so that they can never be mistaken for row data.
Val = Any


class NotLowerable(Exception):
    """The program uses a shape outside the lowered subset; it runs interpreted."""


@dataclass(frozen=True)
class _Seq:
    items: tuple[Any, ...]  # literal list/tuple/set elements (str/int/float/bool)
    container: str = "tuple"


@dataclass(frozen=True)
class _Module:
    name: str


@dataclass(frozen=True)
class _Pattern:
    pattern: str
    flags: int


@dataclass(frozen=True)
class _Words:
    s: Node  # s.split() -- only len() and `in` are lowered


@dataclass(frozen=True)
class _CharList:
    s: Node  # [c for c in s if pred(c)]: len(), truth and iteration are lowered
    pred: _CharPred


@dataclass(frozen=True)
class _Match:
    b: Node  # truthiness of re.search(...) -- a match object or None


@dataclass(frozen=True)
class _CharPred:
    """A predicate over one character: the ASCII chars it accepts, and its value on a
    non-ASCII char (None when that depends on Unicode tables)."""

    ascii: frozenset[int]
    nonascii: bool | None
    # The predicate itself, for Unicode tables: ("true",) ("m", method) ("set", chars)
    # ("not", t) ("and", t, u).
    tree: Any = ("true",)


def _const_kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "B"
    if isinstance(v, int):
        return "I"
    if isinstance(v, float):
        return "F"
    return None


def _kind(v: Val) -> str | None:
    if isinstance(v, Node):
        return v.kind
    if isinstance(v, _Match):
        return "B"
    return _const_kind(v)


def _is_true(v: Val) -> bool:
    return v is True


def _is_false(v: Val) -> bool:
    return v is False


def b_not(a: Val) -> Val:
    if isinstance(a, bool):
        return not a
    if isinstance(a, Node) and a.op == "not":
        return a.args[0]
    return _mk("not", "B", a)


def b_and(a: Val, b: Val) -> Val:
    if _is_false(a) or _is_false(b):
        return False
    if _is_true(a):
        return b
    if _is_true(b) or a is b:
        return a
    if a.id > b.id:  # commutative: one canonical order shares more nodes
        a, b = b, a
    return _mk("and", "B", a, b)


def b_or(a: Val, b: Val) -> Val:
    if _is_true(a) or _is_true(b):
        return True
    if _is_false(a):
        return b
    if _is_false(b) or a is b:
        return a
    if a.id > b.id:
        a, b = b, a
    return _mk("or", "B", a, b)


def where(c: Val, a: Val, b: Val) -> Val:
    if _is_true(c) or (a is b) or (type(a) is type(b) and not isinstance(a, Node) and a == b):
        return a
    if _is_false(c):
        return b
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in ("B", "I", "F"):
        raise NotLowerable("branches give values of different types")
    if ka == "B" and isinstance(a, bool) and isinstance(b, bool):
        return c if a else b_not(c)
    return _mk("where", ka, c, a, b)


def truth(v: Val) -> Val:
    if isinstance(v, _Match):
        return v.b
    if isinstance(v, Node):
        if v.kind == "B":
            return v
        if v.kind == "S":
            return _mk("nonempty", "B", v)
        return _mk("cmp", "B", "ne", v, 0)
    if isinstance(v, (bool, int, float, str)):
        return bool(v)
    if isinstance(v, _Seq):
        return bool(v.items)
    if isinstance(v, _CharList):
        return _mk("cmp", "B", "gt", char_count(v.s, v.pred), 0)
    raise NotLowerable(f"truth value of {type(v).__name__}")


# ------------------------------------------------------------------ char classes

_ASCII = [chr(i) for i in range(128)]
_CHAR_METHODS: dict[str, frozenset[int]] = {
    m: frozenset(i for i, c in enumerate(_ASCII) if getattr(c, m)())
    for m in (
        "isupper",
        "islower",
        "isdigit",
        "isalpha",
        "isspace",
        "isalnum",
        "isdecimal",
        "isnumeric",
        "isprintable",
        "istitle",
    )
}
_ALL = frozenset(range(128))
_WS = bytes(sorted(_CHAR_METHODS["isspace"]))
_STRING_CONSTS = {
    n: getattr(_string, n)
    for n in (
        "punctuation",
        "digits",
        "ascii_letters",
        "ascii_lowercase",
        "ascii_uppercase",
        "whitespace",
        "hexdigits",
        "octdigits",
        "printable",
    )
}
_RE_FLAGS = {
    "I": re.I,
    "IGNORECASE": re.I,
    "A": re.A,
    "ASCII": re.A,
    "X": re.X,
    "VERBOSE": re.X,
    "S": re.S,
    "DOTALL": re.S,
    "M": re.M,
    "MULTILINE": re.M,
}


# ------------------------------------------------------------------ regex -> RE2

try:  # Python 3.11+ names; the parser is the one `re` itself uses
    import re._constants as _sc
    import re._parser as _sp
except ImportError:  # pragma: no cover
    import sre_constants as _sc  # type: ignore[no-redef]
    import sre_parse as _sp  # type: ignore[no-redef]

_WORD = frozenset(i for i, c in enumerate(_ASCII) if re.match(r"\w", c))
_SPACE = frozenset(i for i, c in enumerate(_ASCII) if re.match(r"\s", c))
_DIGIT = frozenset(i for i, c in enumerate(_ASCII) if re.match(r"\d", c))
_CATEGORIES = {
    _sc.CATEGORY_DIGIT: _DIGIT,
    _sc.CATEGORY_NOT_DIGIT: _ALL - _DIGIT,
    _sc.CATEGORY_SPACE: _SPACE,
    _sc.CATEGORY_NOT_SPACE: _ALL - _SPACE,
    _sc.CATEGORY_WORD: _WORD,
    _sc.CATEGORY_NOT_WORD: _ALL - _WORD,
}


def _fold(chars: frozenset[int], icase: bool) -> frozenset[int]:
    if not icase:
        return chars
    out = set(chars)
    for c in chars:
        ch = chr(c)
        if ch.isalpha():
            out.add(ord(ch.lower()))
            out.add(ord(ch.upper()))
    return frozenset(x for x in out if x < 128)


def _class(chars: frozenset[int]) -> str:
    """An RE2 class accepting exactly these ASCII bytes (rows are ASCII when regexes run)."""
    if not chars:
        return "[^\\x00-\\x{10FFFF}]"  # matches nothing
    runs: list[tuple[int, int]] = []
    for c in sorted(chars):
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    body = "".join(f"\\x{a:02x}" if a == b else f"\\x{a:02x}-\\x{b:02x}" for a, b in runs)
    return f"[{body}]"


def _re2_seq(items: Any, icase: bool, dotall: bool, top: bool, end: str = "(?:\\n?\\z)") -> str:
    out = []
    last = len(items) - 1
    for idx, (op, av) in enumerate(items):
        if op is _sc.LITERAL:
            if av >= 128:
                raise NotLowerable("non-ASCII regex literal")
            out.append(_class(_fold(frozenset([av]), icase)))
        elif op is _sc.NOT_LITERAL:
            if av >= 128:
                raise NotLowerable("non-ASCII regex literal")
            out.append(_class(_ALL - _fold(frozenset([av]), icase)))
        elif op is _sc.ANY:
            out.append(_class(_ALL if dotall else _ALL - {10}))
        elif op is _sc.IN:
            out.append(_class(_in_set(av, icase)))
        elif op is _sc.BRANCH:
            alts = [_re2_seq(alt, icase, dotall, top and idx == last, end) for alt in av[1]]
            out.append("(?:" + "|".join(alts) + ")")
        elif op is _sc.SUBPATTERN:
            _group, add, delete, sub = av
            if add or delete:
                raise NotLowerable("inline regex flags")
            out.append("(?:" + _re2_seq(sub, icase, dotall, top and idx == last, end) + ")")
        elif op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT):
            lo, hi, sub = av
            if hi != _sc.MAXREPEAT and hi > 1000 or lo > 1000:
                raise NotLowerable("regex repeat count too large for RE2")
            rng = f"{{{lo},}}" if hi == _sc.MAXREPEAT else f"{{{lo},{hi}}}"
            lazy = "?" if op is _sc.MIN_REPEAT else ""
            out.append("(?:" + _re2_seq(sub, icase, dotall, False) + ")" + rng + lazy)
        elif op is _sc.AT:
            if av in (_sc.AT_BEGINNING, _sc.AT_BEGINNING_STRING):
                out.append("\\A")
            elif av is _sc.AT_END_STRING:
                out.append("\\z")
            elif av is _sc.AT_END:
                # Python's `$` also matches before a final newline; consuming that newline
                # is harmless only when nothing follows in the pattern (and fullmatch,
                # which must end at the end, passes end=\z).
                if not (top and idx == last):
                    raise NotLowerable("`$` inside a regex")
                out.append(end)
            elif av is _sc.AT_BOUNDARY:
                out.append("\\b")
            elif av is _sc.AT_NON_BOUNDARY:
                out.append("\\B")
            else:
                raise NotLowerable(f"regex anchor {av}")
        else:
            raise NotLowerable(f"regex construct {op}")
    return "".join(out)


def _in_set(items: Any, icase: bool) -> frozenset[int]:
    neg = False
    acc: set[int] = set()
    for op, av in items:
        if op is _sc.NEGATE:
            neg = True
        elif op is _sc.LITERAL:
            if av >= 128 and icase:
                raise NotLowerable("non-ASCII class under IGNORECASE")
            acc.add(av)
        elif op is _sc.RANGE:
            if av[1] >= 128 and icase:
                raise NotLowerable("non-ASCII class under IGNORECASE")
            acc.update(range(av[0], min(av[1], 127) + 1))
        elif op is _sc.CATEGORY:
            acc.update(_CATEGORIES[av])
        else:
            raise NotLowerable(f"regex class item {op}")
    pos = _fold(frozenset(x for x in acc if x < 128), icase)
    return _ALL - pos if neg else pos


def translate_regex(pattern: str, flags: int, mode: str) -> str:
    """RE2 pattern matching exactly what Python's ``re`` matches on ASCII text."""
    if flags & ~(re.I | re.A | re.X | re.S):
        raise NotLowerable("regex flags outside I/A/X/S")
    if not pattern.isascii():
        raise NotLowerable("non-ASCII regex")
    try:
        parsed = _sp.parse(pattern, flags)
    except re.error as exc:
        raise NotLowerable(f"bad regex: {exc}") from None
    end = "\\z" if mode == "fullmatch" else "(?:\\n?\\z)"
    body = _re2_seq(list(parsed), bool(flags & re.I), bool(flags & re.S), True, end)
    if mode == "match":
        return "\\A(?:" + body + ")"
    if mode == "fullmatch":
        return "\\A(?:" + body + ")\\z"
    return body


def _regex_node(s: Node, pat: _Pattern, mode: str) -> Node:
    re2 = translate_regex(pat.pattern, pat.flags, mode)
    _check_re2(re2)
    # A literal the match cannot do without lets one multi-needle pass (shared with the
    # keyword tests) rule out most rows before RE2 sees them.
    need = _required_literals(list(_sp.parse(pat.pattern, pat.flags)), bool(pat.flags & re.I))
    pre: Val = True
    if need:
        hay = _mk("lower", "S", s) if pat.flags & re.I else s
        for lit in need:
            pre = b_or(pre if pre is not True else False, contains(hay, lit))
    return _mk("regex", "B", s, re2, pre, pat.pattern, pat.flags, mode)


def _required_literals(items: Any, icase: bool) -> list[str] | None:
    """Strings one of which every match contains (lower-cased under IGNORECASE), or None."""
    best = _required(items, icase)
    return best if best is not None and len(best) <= 16 else None


def _required(items: Any, icase: bool) -> list[str] | None:
    best: list[str] | None = None

    def better(cand: list[str] | None) -> None:
        nonlocal best
        if not cand or any(not c for c in cand):
            return
        if best is None or (min(map(len, cand)), -len(cand)) > (min(map(len, best)), -len(best)):
            best = cand

    run = ""
    for op, av in items:
        if op is _sc.LITERAL and av < 128:
            run += chr(av).lower() if icase else chr(av)
            continue
        better([run] if run else None)
        run = ""
        if op is _sc.BRANCH:
            alts = [_required(alt, icase) for alt in av[1]]
            if all(a for a in alts):
                better(sorted({x for a in alts if a for x in a}))
        elif op is _sc.SUBPATTERN:
            better(_required(av[3], icase))
        elif op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT) and av[0] >= 1:
            better(_required(av[2], icase))
    better([run] if run else None)
    return best


def _check_re2(pattern: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array(["x"]), pattern=pattern)
    except Exception as exc:  # noqa: BLE001 - RE2 rejects what it cannot run exactly
        raise NotLowerable(f"RE2 rejects the pattern: {exc}") from None


# ------------------------------------------------------------------ string ops

# Where a byte-level op can differ from Python's on a non-ASCII row, by how much of the
# row must be checked: A any non-ASCII byte (regexes, Unicode char classes); C a char
# whose lower()/upper() is ASCII or not one char ('İ', 'K', 'ß': the kernels fold ASCII
# only); W a non-ASCII whitespace char (strip() and split() use str.isspace).
TAINT_A, TAINT_C, TAINT_W = 1, 2, 4
_TAINT: dict[int, int] = {}


def _marks(s: Node) -> int:
    """Taint a string value passes on to whatever looks at it."""
    if s.op == "text":
        return 0
    inner = _marks(s.args[0])
    return inner | (TAINT_C if s.op in ("lower", "upper") else TAINT_W)


def _taint(node: Node) -> int:
    got = _TAINT.get(node.id)
    if got is not None:
        return got
    op, args = node.op, node.args
    if op in ("contains", "count", "startswith", "endswith", "streq"):
        m = _marks(args[0])
        got = m if args[1].isascii() else (TAINT_A if m else 0)
    elif op in ("wordin", "words", "wordcount"):
        got = TAINT_W | _marks(args[0])
        if op != "words" and not args[1].isascii():
            got = TAINT_A
    elif op == "charcount":
        m = _marks(args[0])
        # Unicode tables judge the chars as they are; case-mapped chars were only
        # mapped for ASCII, so those rows must fall back.
        got = m if args[2] is not None else (m & TAINT_W) | (TAINT_A if m & TAINT_C else 0)
    elif op == "nonempty":
        got = _marks(args[0])
    elif op == "streq2":
        got = TAINT_A if _marks(args[0]) | _marks(args[1]) else 0
    elif op == "regex":
        got = 0  # exact on every row: see _Evaluator.regex
    else:
        got = 0
        for a in args:
            if isinstance(a, Node) and a.kind != "S":
                got |= _taint(a)
    _TAINT[node.id] = got
    return got


_CASE_UNSAFE: np.ndarray | None = None
_WS_UNSAFE: np.ndarray | None = None
# No code point at or above this has a case mapping or is whitespace (Unicode 15).
_CP_LIMIT = 0x20000


def _unsafe_tables() -> tuple[np.ndarray, np.ndarray]:
    global _CASE_UNSAFE, _WS_UNSAFE
    for d in _TABLE_DIR:  # saved by the host next to the kernels
        path = os.path.join(d, "unsafe-tables.npy")
        if _CASE_UNSAFE is None and os.path.isfile(path):
            both = np.load(path, allow_pickle=False).astype(np.bool_)
            _CASE_UNSAFE, _WS_UNSAFE = both[0].copy(), both[1].copy()
    if _CASE_UNSAFE is None or _WS_UNSAFE is None:
        case = np.zeros(_CP_LIMIT, np.bool_)
        ws = np.zeros(_CP_LIMIT, np.bool_)
        for cp in range(128, _CP_LIMIT):
            if 0xD800 <= cp < 0xE000:
                continue
            c = chr(cp)
            lo, up = c.lower(), c.upper()
            if len(lo) != 1 or len(up) != 1 or lo < "\x80" or up < "\x80":
                case[cp] = True
            if c.isspace():
                ws[cp] = True
        _CASE_UNSAFE, _WS_UNSAFE = case, ws
    return _CASE_UNSAFE, _WS_UNSAFE


def _needle(v: Val) -> bytes:
    if not isinstance(v, str):
        raise NotLowerable("needle is not a string literal")
    return v.encode("utf-8")


def contains(s: Node, lit: Val) -> Val:
    nb_ = _needle(lit)
    if not nb_:
        return True
    return _mk("contains", "B", s, nb_)


def char_count(s: Node, pred: _CharPred) -> Node:
    # nonascii None: a non-ASCII char's answer comes from a Unicode table of ``tree``
    return _mk("charcount", "I", s, pred.ascii, pred.nonascii, pred.tree if pred.nonascii is None else None)


def str_len(s: Node) -> Node:
    return char_count(s, _CharPred(_ALL, True, ("true",)))


# ------------------------------------------------------------------ symbolic execution


@dataclass
class _Var:
    value: Val
    defined: Val  # rows where the name is bound (True almost always)


@dataclass
class _Loop:
    broken: Val = False
    continued: Val = False


@dataclass
class _State:
    env: dict[str, _Var]
    ret: Val = 0
    returned: Val = False
    fault: Val = False
    # rows that reached an operation tainted A / C / W (see TAINT_A)
    tainted: dict[int, Val] = field(default_factory=lambda: {TAINT_A: False, TAINT_C: False, TAINT_W: False})
    loops: list[_Loop] = field(default_factory=list)


_BUILTIN_CALLS = {"len", "any", "all", "sum", "bool", "int", "min", "max", "abs"}


@dataclass(frozen=True)
class Allowed:
    """What the interpreter lets a program use; a lowered program may use no more, or
    the interpreter would fault where the kernel answers. None = no restriction."""

    modules: dict[str, frozenset[str]] | None = None
    builtins: frozenset[str] | None = None

    @classmethod
    def from_policy(cls, policy: dict[str, Any]) -> Allowed:
        mods = {m: frozenset(a) for m, a in policy.get("modules", {}).items()}
        return cls(mods, frozenset(policy.get("builtins", ())))

    def module(self, name: str, attr: str | None = None) -> bool:
        if self.modules is None:
            return True
        return name in self.modules and (attr is None or attr in self.modules[name])

    def builtin(self, name: str) -> bool:
        return self.builtins is None or name in self.builtins


class _Lowerer:
    def __init__(self, module_env: dict[str, Any], param: str, allowed: Allowed = Allowed()) -> None:
        self.allowed = allowed
        self.consts = module_env
        self.st = _State(env={param: _Var(TEXT, True)})

    # -- statements ---------------------------------------------------------------
    def block(self, stmts: Sequence[ast.stmt], active: Val) -> Val:
        for stmt in stmts:
            if _is_false(active):
                break
            active = self.stmt(stmt, active)
        return active

    def stmt(self, s: ast.stmt, active: Val) -> Val:
        st = self.st
        if isinstance(s, ast.Pass):
            return active
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return active
            raise NotLowerable("expression statement")
        if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value_expr: ast.expr | None
            if isinstance(s, ast.Assign):
                if len(s.targets) != 1:
                    raise NotLowerable("chained assignment")
                target, value_expr = s.targets[0], s.value
            else:
                target, value_expr = s.target, s.value
            if not isinstance(target, ast.Name) or value_expr is None:
                raise NotLowerable("assignment target")
            if isinstance(s, ast.AugAssign):
                value_expr = ast.BinOp(ast.Name(target.id, ast.Load()), s.op, value_expr)
            value = self.expr(value_expr, active)
            self.assign(target.id, value, active)
            return active
        if isinstance(s, ast.Return):
            if s.value is None or (isinstance(s.value, ast.Constant) and s.value.value is None):
                st.fault = b_or(st.fault, active)  # returns None: the interpreter decides
                return False
            v = self.expr(s.value, active)
            if _kind(v) != "I" or isinstance(v, bool) or isinstance(v, _Match):
                raise NotLowerable("return value is not an int")
            st.ret = where(active, v, st.ret)
            st.returned = b_or(st.returned, active)
            return False
        if isinstance(s, ast.If):
            cond = self.expr(s.test, active, as_cond=True)
            ft_body = self.block(s.body, b_and(active, cond))
            ft_else = self.block(s.orelse, b_and(active, b_not(cond)))
            return b_or(ft_body, ft_else)
        if isinstance(s, ast.For):
            return self.for_loop(s, active)
        if isinstance(s, ast.Break):
            if not st.loops:
                raise NotLowerable("break outside loop")
            st.loops[-1].broken = b_or(st.loops[-1].broken, active)
            return False
        if isinstance(s, ast.Continue):
            if not st.loops:
                raise NotLowerable("continue outside loop")
            st.loops[-1].continued = b_or(st.loops[-1].continued, active)
            return False
        raise NotLowerable(f"statement {type(s).__name__}")

    def assign(self, name: str, value: Val, active: Val) -> None:
        env = self.st.env
        if name in self.consts or name in _BUILTIN_CALLS:
            raise NotLowerable(f"assignment shadows {name!r}")
        if isinstance(value, (_Seq, _Module, _Pattern, _Words, _CharList, _Match)) or (
            isinstance(value, Node) and value.kind == "S"
        ) or isinstance(value, str):
            # compile-time and string values only when bound on every row
            if not _is_true(active):
                old = env.get(name)
                if old is None or old.value != value:
                    raise NotLowerable("conditional assignment of a non-numeric value")
            env[name] = _Var(value, True)
            return
        old = env.get(name)
        if old is None:
            env[name] = _Var(value, active)
        else:
            env[name] = _Var(where(active, value, old.value), b_or(active, old.defined))

    def for_loop(self, s: ast.For, active: Val) -> Val:
        if s.orelse or not isinstance(s.target, ast.Name):
            raise NotLowerable("for/else or tuple target")
        items = self.expr(s.iter, active)
        if isinstance(items, str):
            items = _Seq(tuple(items))
        if isinstance(items, _Words):
            return self.words_loop(s, items, active)
        if not isinstance(items, _Seq) or len(items.items) > 512:
            raise NotLowerable("for loop over row data")
        name = s.target.id
        loop = _Loop()
        self.st.loops.append(loop)
        cur = active
        for item in items.items:
            if _is_false(cur):
                break
            self.assign(name, item, True)
            loop.continued = False
            ft = self.block(s.body, cur)
            cur = b_and(b_or(ft, loop.continued), b_not(loop.broken))
        self.st.loops.pop()
        # the loop variable's value after the loop depends on where it broke: unreadable
        self.st.env[name] = _Var(_Poison(), True)
        return b_or(cur, loop.broken)

    def word_test(self, test: ast.expr, var: str) -> list[str] | None:
        """The literals of ``w in SEQ`` / ``w == 'x'`` (w the loop's word), else None."""
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name)):
            return None
        if test.left.id != var or any(isinstance(n, ast.Name) and n.id == var for n in ast.walk(test.comparators[0])):
            return None
        other, _ = self.ev(test.comparators[0])
        if isinstance(test.ops[0], ast.In) and isinstance(other, _Seq):
            return sorted({x for x in other.items if isinstance(x, str)})
        if isinstance(test.ops[0], ast.Eq) and isinstance(other, str):
            return [other]
        return None

    def words_loop(self, s: ast.For, words: _Words, active: Val) -> Val:
        """``for w in text.split(): if w in SEQ: return C`` (or ``n += K``), by word counts."""
        assert isinstance(s.target, ast.Name)
        var = s.target.id
        body = s.body
        if len(body) != 1 or not isinstance(body[0], ast.If) or body[0].orelse or len(body[0].body) != 1:
            raise NotLowerable("for loop over words")
        lits = self.word_test(body[0].test, var)
        inner = body[0].body[0]
        if lits is None or any(isinstance(n, ast.Name) and n.id == var for n in ast.walk(inner)):
            raise NotLowerable("for loop over words")
        counts: Val = 0
        for lit in lits:
            counts = self.arith("add", counts, _word_count(words.s, lit))
        if isinstance(inner, ast.Return):
            self.block([inner], b_and(active, truth(counts)))
            self.st.env[var] = _Var(_Poison(), True)
            return b_and(active, b_not(truth(counts)))
        if (
            isinstance(inner, ast.AugAssign)
            and isinstance(inner.op, ast.Add)
            and isinstance(inner.target, ast.Name)
        ):
            k, f = self.ev(inner.value)
            if _kind(k) != "I" or isinstance(k, (Node, bool)):
                raise NotLowerable("for loop over words")
            name = inner.target.id
            if name in self.consts or name not in self.st.env:
                raise NotLowerable("counter is not a local")
            old, fo = self.name(name)
            self.st.fault = b_or(self.st.fault, b_and(active, b_or(f, b_and(truth(counts), fo))))
            # Where the counter was unbound and a word matched, the row faulted; where no
            # word matched it stays unbound: its defined-mask is unchanged.
            new = where(active, self.arith("add", old, self.arith("mul", counts, k)), old)
            self.st.env[name] = _Var(new, self.st.env[name].defined)
            self.st.env[var] = _Var(_Poison(), True)
            return active
        raise NotLowerable("for loop over words")

    # -- expressions ----------------------------------------------------------------
    def expr(self, e: ast.expr, active: Val, as_cond: bool = False) -> Val:
        """Value of ``e`` on the rows in ``active``; rows where it raises become faults,
        and non-ASCII rows among them fall back if ``e`` is Unicode-sensitive."""
        v, f = self.cond(e) if as_cond else self.ev(e)
        self.st.fault = b_or(self.st.fault, b_and(active, f))
        # A string value (t = text.lower()) is harmless until something looks at it.
        taint = 0
        for x in (f, v.b if isinstance(v, _Match) else v):
            if isinstance(x, Node) and x.kind != "S":
                taint |= _taint(x)
        for bit in (TAINT_A, TAINT_C, TAINT_W):
            if taint & bit:
                self.st.tainted[bit] = b_or(self.st.tainted[bit], active)
        return v

    def ev(self, e: ast.expr) -> tuple[Val, Val]:
        """(value, rows where evaluating it raises)."""
        if isinstance(e, ast.Constant):
            if isinstance(e.value, (str, int, float, bool)) and not isinstance(e.value, complex):
                if isinstance(e.value, int) and abs(e.value) > 2**40:
                    raise NotLowerable("large int constant")
                return e.value, False
            raise NotLowerable("constant type")
        if isinstance(e, ast.Name):
            return self.name(e.id)
        if isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            items = []
            for elt in e.elts:
                v, _ = self.ev(elt)
                if not isinstance(v, (str, int, float, bool)):
                    raise NotLowerable("non-literal list element")
                items.append(v)
            if isinstance(e, ast.Set):
                items = list(dict.fromkeys(items))
            container = {ast.List: "list", ast.Tuple: "tuple", ast.Set: "set"}[type(e)]
            return _Seq(tuple(items), container), False
        if isinstance(e, ast.Attribute):
            base, f = self.ev(e.value)
            if isinstance(base, _Module):
                return self.module_attr(base, e.attr), f
            raise NotLowerable("attribute access")
        if isinstance(e, ast.BoolOp):
            return self.boolop(e, truth_ctx=False)
        if isinstance(e, ast.UnaryOp):
            if isinstance(e.op, ast.Not):
                c, f = self.cond(e.operand)
                return b_not(c), f
            v, f = self.ev(e.operand)
            if isinstance(e.op, (ast.USub, ast.UAdd)):
                return self.arith("sub" if isinstance(e.op, ast.USub) else "add", 0, v), f
            raise NotLowerable("unary operator")
        if isinstance(e, ast.BinOp):
            a, fa = self.ev(e.left)
            b, fb = self.ev(e.right)
            ops = {
                ast.Add: "add",
                ast.Sub: "sub",
                ast.Mult: "mul",
                ast.Div: "div",
                ast.FloorDiv: "floordiv",
                ast.Mod: "mod",
            }
            op = ops.get(type(e.op))
            if op is None:
                raise NotLowerable("binary operator")
            v = self.arith(op, a, b)
            f = b_or(fa, fb)
            if op in ("div", "floordiv", "mod"):
                f = b_or(f, self.zero(b))
            return v, f
        if isinstance(e, ast.Compare):
            return self.compare(e)
        if isinstance(e, ast.IfExp):
            c, fc = self.cond(e.test)
            a, fa = self.ev(e.body)
            b, fb = self.ev(e.orelse)
            f = b_or(fc, b_or(b_and(c, fa), b_and(b_not(c), fb)))
            if isinstance(a, _Match) or isinstance(b, _Match):
                raise NotLowerable("match object as a value")
            return where(c, a, b), f
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.ListComp):
            return self.char_list(e)
        raise NotLowerable(f"expression {type(e).__name__}")

    def char_list(self, e: ast.ListComp) -> tuple[Val, Val]:
        """``[c for c in s if pred(c)]``: kept symbolic, only counted later."""
        gen = e.generators[0]
        if len(e.generators) != 1 or not isinstance(gen.target, ast.Name):
            raise NotLowerable("list comprehension")
        var = gen.target.id
        if gen.is_async or not (isinstance(e.elt, ast.Name) and e.elt.id == var):
            raise NotLowerable("list comprehension")
        it, fault = self.ev(gen.iter)
        if isinstance(it, Node) and it.kind == "S":
            it = _CharList(it, _CharPred(_ALL, True, ("true",)))
        if not isinstance(it, _CharList):
            raise NotLowerable("list comprehension over non-characters")
        pred = it.pred
        for test in gen.ifs:
            pred = _pred_and(pred, self.char_pred(test, var))
        return _CharList(it.s, pred), fault

    def name(self, n: str) -> tuple[Val, Val]:
        var = self.st.env.get(n)
        if var is not None:
            if isinstance(var.value, _Poison):
                raise NotLowerable("loop variable read after its loop")
            return var.value, b_not(var.defined)
        if n in self.consts:
            return self.consts[n], False
        raise NotLowerable(f"unknown name {n!r}")

    def module_attr(self, m: _Module, attr: str) -> Val:
        if not self.allowed.module(m.name, attr):
            raise NotLowerable(f"{m.name}.{attr} is not allowed in the sandbox")
        if m.name == "string" and attr in _STRING_CONSTS:
            return _STRING_CONSTS[attr]
        if m.name == "re" and attr in _RE_FLAGS:
            return _RE_FLAGS[attr]
        raise NotLowerable(f"{m.name}.{attr}")

    def zero(self, b: Val) -> Val:
        if isinstance(b, Node):
            return _mk("cmp", "B", "eq", b, 0)
        return b == 0

    def arith(self, op: str, a: Val, b: Val) -> Val:
        ka, kb = _kind(a), _kind(b)
        if ka not in ("B", "I", "F") or kb not in ("B", "I", "F") or isinstance(a, _Match) or isinstance(b, _Match):
            raise NotLowerable("arithmetic on non-numbers")
        if isinstance(a, Node) and a.kind == "B":
            a = _mk("int", "I", a)
        if isinstance(b, Node) and b.kind == "B":
            b = _mk("int", "I", b)
        if not isinstance(a, Node) and not isinstance(b, Node):
            try:
                return _fold_arith(op, a, b)
            except ZeroDivisionError:
                return 0  # the fault mask already covers it
        if op == "mul" and isinstance(a, Node) and isinstance(b, Node):
            raise NotLowerable("product of two row values (int64 overflow)")
        if op == "mul":
            c = b if isinstance(a, Node) else a
            if abs(c) > 2**20:
                raise NotLowerable("large multiplier")
        kinds = {_kind(a), _kind(b)}
        kind = "F" if op == "div" or "F" in kinds else "I"
        if op == "add" and type(a) is int and a == 0 and isinstance(b, Node) and b.kind == kind:
            return b
        return _mk("arith", kind, op, a, b)

    def cond(self, e: ast.expr) -> tuple[Val, Val]:
        """(truth value of ``e``, fault rows): and/or here may mix value types."""
        if isinstance(e, ast.BoolOp):
            return self.boolop(e, truth_ctx=True)
        v, f = self.ev(e)
        return truth(v), f

    def boolop(self, e: ast.BoolOp, truth_ctx: bool) -> tuple[Val, Val]:
        is_and = isinstance(e.op, ast.And)
        acc: Val = is_and
        fault: Val = False
        reach: Val = True  # rows where this operand is evaluated
        for operand in e.values:
            if truth_ctx:
                t, f = self.cond(operand)
            else:
                # as a value, `a and b` is one of the operands: exact only for bools
                v, f = self.ev(operand)
                if not (isinstance(v, bool) or (isinstance(v, Node) and v.kind == "B")):
                    raise NotLowerable("and/or over non-bool values used as a value")
                t = v
            fault = b_or(fault, b_and(reach, f))
            if is_and:
                acc = b_and(acc, t)
                reach = acc
            else:
                acc = b_or(acc, t)
                reach = b_not(acc)
        return acc, fault

    def compare(self, e: ast.Compare) -> tuple[Val, Val]:
        left, fault = self.ev(e.left)
        acc: Val = True
        for op, right_e in zip(e.ops, e.comparators, strict=True):
            if isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(right_e, ast.Constant) and right_e.value is None):
                    raise NotLowerable("identity comparison")
                if not isinstance(left, _Match) or len(e.ops) != 1:
                    raise NotLowerable("`is None` of a non-match")
                r = b_not(left.b) if isinstance(op, ast.Is) else left.b
                return r, fault
            right, f = self.ev(right_e)
            fault = b_or(fault, b_and(acc, f))
            acc = b_and(acc, self.cmp1(op, left, right))
            left = right
        return acc, fault

    def cmp1(self, op: ast.cmpop, a: Val, b: Val) -> Val:
        if isinstance(op, (ast.In, ast.NotIn)):
            r = self.membership(a, b)
            return b_not(r) if isinstance(op, ast.NotIn) else r
        names = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
        name = names[type(op)]
        if isinstance(a, Node) and a.kind == "S" or isinstance(b, Node) and b.kind == "S":
            if name not in ("eq", "ne"):
                raise NotLowerable("string ordering")
            s, lit = (a, b) if isinstance(a, Node) and a.kind == "S" else (b, a)
            if isinstance(lit, Node) and lit.kind == "S":
                x, y = (s, lit) if s.id < lit.id else (lit, s)
                r = True if x is y else _mk("streq2", "B", x, y)
                return r if name == "eq" else b_not(r)
            if not isinstance(lit, str):
                raise NotLowerable("string compared with a non-literal")
            r = _mk("streq", "B", s, lit.encode("utf-8"))
            return r if name == "eq" else b_not(r)
        ka, kb = _kind(a), _kind(b)
        if ka not in ("B", "I", "F") or kb not in ("B", "I", "F") or isinstance(a, _Match) or isinstance(b, _Match):
            if not isinstance(a, Node) and not isinstance(b, Node) and isinstance(a, str) and isinstance(b, str):
                return _fold_cmp(name, a, b)
            raise NotLowerable("comparison of these types")
        if not isinstance(a, Node) and not isinstance(b, Node):
            return _fold_cmp(name, a, b)
        return _mk("cmp", "B", name, a, b)

    def membership(self, a: Val, b: Val) -> Val:
        if isinstance(b, Node) and b.kind == "S":
            if isinstance(a, str):
                return contains(b, a)
            raise NotLowerable("`in` with a non-literal needle")
        if isinstance(b, _Words):
            if not isinstance(a, str):
                raise NotLowerable("`in` split() with a non-literal")
            if not a or any(ch.isspace() for ch in a):
                return False
            return _mk("wordin", "B", b.s, a.encode("utf-8"))
        if isinstance(b, _Seq):
            if isinstance(a, Node) and a.kind == "S":
                acc: Val = False
                for item in b.items:
                    if isinstance(item, str):
                        acc = b_or(acc, _mk("streq", "B", a, item.encode("utf-8")))
                return acc
            if isinstance(a, Node) and a.kind in ("I", "F"):
                acc = False
                for item in b.items:
                    if _const_kind(item) in ("I", "F", "B"):
                        acc = b_or(acc, _mk("cmp", "B", "eq", a, item))
                return acc
            if not isinstance(a, Node):
                return a in b.items
        if isinstance(b, str) and isinstance(a, str):
            return a in b
        raise NotLowerable("membership test of these types")

    # -- calls ------------------------------------------------------------------------
    def call(self, e: ast.Call) -> tuple[Val, Val]:
        if e.keywords:
            raise NotLowerable("keyword arguments")
        if any(isinstance(a, ast.Starred) for a in e.args):
            raise NotLowerable("starred arguments")
        fn = e.func
        if isinstance(fn, ast.Attribute):
            base, fault = self.ev(fn.value)
            if isinstance(base, _Module):
                if not self.allowed.module(base.name, fn.attr):
                    raise NotLowerable(f"{base.name}.{fn.attr} is not allowed in the sandbox")
                if base.name == "re":
                    v, f = self.re_call(fn.attr, e.args)
                    return v, b_or(fault, f)
                raise NotLowerable(f"{base.name}.{fn.attr}()")
            if isinstance(base, _Pattern):
                if fn.attr not in ("search", "match", "fullmatch") or len(e.args) != 1:
                    raise NotLowerable(f"pattern.{fn.attr}")
                s, f = self.ev(e.args[0])
                return self.regex(base, s, fn.attr), b_or(fault, f)
            args = []
            for a in e.args:
                v, f = self.ev(a)
                fault = b_or(fault, f)
                args.append(v)
            return self.method(base, fn.attr, args), fault
        if (
            isinstance(fn, ast.Name)
            and fn.id in _BUILTIN_CALLS
            and fn.id not in self.st.env
            and fn.id not in self.consts
            and self.allowed.builtin(fn.id)
        ):
            return self.builtin(fn.id, e.args)
        raise NotLowerable("call of an unknown function")

    def method(self, base: Val, name: str, args: list[Val]) -> Val:
        if isinstance(base, str):
            if name in ("lower", "upper", "strip") and not args:
                return str(getattr(base, name)())
            raise NotLowerable(f"str.{name} on a literal")
        if not (isinstance(base, Node) and base.kind == "S"):
            raise NotLowerable(f".{name}() on a non-string")
        if name in ("lower", "upper", "casefold", "strip", "lstrip", "rstrip") and not args:
            return _mk("lower" if name == "casefold" else name, "S", base)
        if name in ("startswith", "endswith") and len(args) == 1:
            arg = args[0]
            if isinstance(arg, _Seq) and arg.container != "tuple":
                raise NotLowerable(f"{name}() of a {arg.container}")
            lits = arg.items if isinstance(arg, _Seq) else (arg,)
            acc: Val = False
            for lit in lits:
                nb_ = _needle(lit)
                acc = b_or(acc, True if not nb_ else _mk(name, "B", base, nb_))
            return acc
        if name == "count" and len(args) == 1:
            nb_ = _needle(args[0])
            if not nb_:
                return _mk("arith", "I", "add", str_len(base), 1)
            return _mk("count", "I", base, nb_)
        if name == "split" and not args:
            return _Words(base)
        if name in ("isupper", "islower") and not args:
            up = char_count(base, _method_pred("isupper"))
            lo = char_count(base, _method_pred("islower"))
            # str.isupper() is also False on a titlecase char ('ǅ')
            title = char_count(base, _CharPred(frozenset(), None, ("and", ("m", "istitle"), ("not", ("m", "isupper")))))
            want, other = (up, lo) if name == "isupper" else (lo, up)
            ok = b_and(_mk("cmp", "B", "eq", other, 0), _mk("cmp", "B", "eq", title, 0))
            return b_and(_mk("cmp", "B", "gt", want, 0), ok)
        if name in ("isdigit", "isalpha", "isspace", "isalnum", "isdecimal", "isnumeric") and not args:
            n = str_len(base)
            k = char_count(base, _method_pred(name))
            return b_and(_mk("cmp", "B", "gt", n, 0), _mk("cmp", "B", "eq", k, n))
        raise NotLowerable(f"str.{name}")

    def re_call(self, fn: str, args: list[ast.expr]) -> tuple[Val, Val]:
        if fn == "compile" and 1 <= len(args) <= 2:
            pat, _ = self.ev(args[0])
            flags = self.ev(args[1])[0] if len(args) == 2 else 0
            if not isinstance(pat, str) or not isinstance(flags, int) or isinstance(flags, bool):
                raise NotLowerable("re.compile of a non-literal")
            translate_regex(pat, flags, "search")  # refuse now what cannot be lowered
            return _Pattern(pat, flags), False
        if fn in ("search", "match", "fullmatch") and 2 <= len(args) <= 3:
            pat, _ = self.ev(args[0])
            s, fault = self.ev(args[1])
            flags = self.ev(args[2])[0] if len(args) == 3 else 0
            if not isinstance(flags, int) or isinstance(flags, bool):
                raise NotLowerable("regex flags are not an int literal")
            if isinstance(pat, str):
                pat = _Pattern(pat, flags)
            elif not isinstance(pat, _Pattern) or flags:
                # Python raises for flags with a compiled pattern; leave that to it
                raise NotLowerable("re call with a non-literal pattern")
            return self.regex(pat, s, fn), fault
        raise NotLowerable(f"re.{fn}")

    def regex(self, pat: _Pattern, s: Val, mode: str) -> Val:
        if not (isinstance(s, Node) and s.kind == "S"):
            raise NotLowerable("regex over a non-string")
        return _Match(_regex_node(s, pat, mode))

    def builtin(self, fn: str, args: list[ast.expr]) -> tuple[Val, Val]:
        if fn in ("any", "all", "sum") and len(args) == 1 and isinstance(args[0], (ast.GeneratorExp, ast.ListComp)):
            return self.reduce(fn, args[0])
        vals = []
        fault: Val = False
        for a in args:
            v, f = self.ev(a)
            fault = b_or(fault, f)
            vals.append(v)
        if fn == "len" and len(vals) == 1:
            v = vals[0]
            if isinstance(v, Node) and v.kind == "S":
                return str_len(v), fault
            if isinstance(v, _Words):
                return _mk("words", "I", v.s), fault
            if isinstance(v, (_Seq, str)):
                return len(v.items) if isinstance(v, _Seq) else len(v), fault
            if isinstance(v, _CharList):
                return char_count(v.s, v.pred), fault
        if fn == "bool" and len(vals) == 1 and not isinstance(args[0], ast.BoolOp):
            return truth(vals[0]), fault
        if fn == "int" and len(vals) == 1 and _kind(vals[0]) in ("B", "I") and not isinstance(vals[0], _Match):
            v = vals[0]
            return (_mk("int", "I", v) if isinstance(v, Node) and v.kind == "B" else int(v)), fault
        if fn == "abs" and len(vals) == 1 and _kind(vals[0]) in ("I", "F") and not isinstance(vals[0], bool):
            v = vals[0]
            return (_mk("abs", v.kind, v) if isinstance(v, Node) else abs(v)), fault
        if fn in ("min", "max") and len(vals) == 2:
            a, b = vals
            if _kind(a) == _kind(b) and _kind(a) in ("I", "F") and not isinstance(a, bool) and not isinstance(b, bool):
                if not isinstance(a, Node) and not isinstance(b, Node):
                    return (min(a, b) if fn == "min" else max(a, b)), fault
                return _mk(fn, _kind(a) or "I", a, b), fault
        if fn in ("any", "all") and len(vals) == 1 and isinstance(vals[0], _Seq):
            return (any(vals[0].items) if fn == "any" else all(vals[0].items)), fault
        raise NotLowerable(f"{fn}() of these arguments")

    def reduce(self, fn: str, g: ast.GeneratorExp | ast.ListComp) -> tuple[Val, Val]:
        if len(g.generators) != 1:
            raise NotLowerable("nested comprehension")
        gen = g.generators[0]
        if gen.is_async or not isinstance(gen.target, ast.Name):
            raise NotLowerable("comprehension target")
        it, fault = self.ev(gen.iter)
        var = gen.target.id
        if isinstance(it, Node) and it.kind == "S":
            it = _CharList(it, _CharPred(_ALL, True, ("true",)))
        if isinstance(it, _CharList):
            return self.char_reduce(fn, var, g.elt, gen.ifs, it), fault
        if isinstance(it, _Words):
            return self.words_reduce(fn, var, g.elt, gen.ifs, it), fault
        if isinstance(it, str):
            it = _Seq(tuple(it))
        if not isinstance(it, _Seq) or len(it.items) > 512:
            raise NotLowerable("comprehension over row data")
        saved = self.st.env.get(var)
        acc: Val = fn == "all" if fn != "sum" else 0
        reach: Val = True
        for item in it.items:
            self.st.env[var] = _Var(item, True)
            cond: Val = True
            for test in gen.ifs:
                c, f = self.cond(test)
                fault = b_or(fault, b_and(b_and(reach, cond), f))
                cond = b_and(cond, c)
            v, f = self.ev(g.elt)
            fault = b_or(fault, b_and(b_and(reach, cond), f))
            if fn == "sum":
                if _kind(v) not in ("B", "I") or isinstance(v, _Match):
                    raise NotLowerable("sum of non-ints")
                acc = self.arith("add", acc, where(cond, v, False if _kind(v) == "B" else 0))
            elif fn == "any":
                acc = b_or(acc, b_and(cond, truth(v)))
                reach = b_not(acc)
            else:
                acc = b_and(acc, b_or(b_not(cond), truth(v)))
                reach = acc
        if saved is None:
            self.st.env.pop(var, None)
        else:
            self.st.env[var] = saved
        return acc, fault

    def words_reduce(self, fn: str, var: str, elt: ast.expr, ifs: list[ast.expr], words: _Words) -> Val:
        """any(w in SEQ for w in words) and sum(1 for w in words if w in SEQ)."""
        if fn == "any" and not ifs:
            lits = self.word_test(elt, var)
        elif fn == "sum" and len(ifs) == 1 and isinstance(elt, ast.Constant) and type(elt.value) is int and elt.value == 1:
            lits = self.word_test(ifs[0], var)
        elif fn == "sum" and not ifs:
            lits = self.word_test(elt, var)
        else:
            lits = None
        if lits is None:
            raise NotLowerable("comprehension over words")
        total: Val = 0
        for lit in lits:
            total = self.arith("add", total, _word_count(words.s, lit))
        return truth(total) if fn == "any" else total

    def char_reduce(self, fn: str, var: str, elt: ast.expr, ifs: list[ast.expr], chars: _CharList) -> Val:
        s = chars.s
        cond = chars.pred
        for test in ifs:
            cond = _pred_and(cond, self.char_pred(test, var))
        if fn == "sum":
            if isinstance(elt, ast.Constant) and elt.value == 1 and type(elt.value) is int:
                pred = cond
            else:
                pred = _pred_and(cond, self.char_pred(elt, var))
            return char_count(s, pred)
        p = self.char_pred(elt, var)
        if fn == "any":
            pred = _pred_and(cond, p)
            return _mk("cmp", "B", "gt", char_count(s, pred), 0)
        # all(): no char passes the filter and fails the test
        bad = _pred_and(cond, _pred_not(p))
        return _mk("cmp", "B", "eq", char_count(s, bad), 0)

    def char_pred(self, e: ast.expr, var: str) -> _CharPred:
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and not e.args and not e.keywords:
            if isinstance(e.func.value, ast.Name) and e.func.value.id == var and e.func.attr in _CHAR_METHODS:
                return _method_pred(e.func.attr)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
            return _pred_not(self.char_pred(e.operand, var))
        if isinstance(e, ast.BoolOp):
            preds = [self.char_pred(v, var) for v in e.values]
            out = preds[0]
            for p in preds[1:]:
                out = _pred_and(out, p) if isinstance(e.op, ast.And) else _pred_not(
                    _pred_and(_pred_not(out), _pred_not(p))
                )
            return out
        if isinstance(e, ast.Compare) and len(e.ops) == 1 and isinstance(e.left, ast.Name) and e.left.id == var:
            op = e.ops[0]
            other, _ = self.ev(e.comparators[0])
            if isinstance(op, (ast.In, ast.NotIn)):
                if isinstance(other, str):
                    chars = set(other)
                elif isinstance(other, _Seq):
                    chars = {x for x in other.items if isinstance(x, str)}
                else:
                    raise NotLowerable("char membership in a non-literal")
                p = _pred_of_chars(chars)
                return _pred_not(p) if isinstance(op, ast.NotIn) else p
            if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(other, str):
                p = _pred_of_chars({other})
                return _pred_not(p) if isinstance(op, ast.NotEq) else p
        raise NotLowerable("character predicate")


class _Poison:
    pass


def _word_count(s: Node, lit: str) -> Val:
    """How many words of s.split() equal ``lit``."""
    if not lit or any(ch.isspace() for ch in lit):
        return 0
    return _mk("wordcount", "I", s, lit.encode("utf-8"))


def _method_pred(name: str) -> _CharPred:
    return _CharPred(_CHAR_METHODS[name], None, ("m", name))


def _pred_of_chars(chars: set[Any]) -> _CharPred:
    single = frozenset(c for c in chars if isinstance(c, str) and len(c) == 1)
    asc = frozenset(ord(c) for c in single if ord(c) < 128)
    if any(ord(c) >= 128 for c in single):
        return _CharPred(asc, None, ("set", single))  # which non-ASCII char: a table
    return _CharPred(asc, False, ("set", single))


def _pred_and(a: _CharPred, b: _CharPred) -> _CharPred:
    na = None if a.nonascii is None or b.nonascii is None else (a.nonascii and b.nonascii)
    if a.nonascii is False or b.nonascii is False:
        na = False
    return _CharPred(a.ascii & b.ascii, na, ("and", a.tree, b.tree))


def _pred_not(a: _CharPred) -> _CharPred:
    return _CharPred(_ALL - a.ascii, None if a.nonascii is None else not a.nonascii, ("not", a.tree))


def _fold_arith(op: str, a: Any, b: Any) -> Any:
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        if isinstance(a, str) or isinstance(b, str):
            raise NotLowerable("string repetition")
        return a * b
    if op == "div":
        return a / b
    if op == "floordiv":
        return a // b
    return a % b


def _fold_cmp(name: str, a: Any, b: Any) -> bool:
    return bool(
        {
            "eq": lambda: a == b,
            "ne": lambda: a != b,
            "lt": lambda: a < b,
            "le": lambda: a <= b,
            "gt": lambda: a > b,
            "ge": lambda: a >= b,
        }[name]()
    )


# ------------------------------------------------------------------ module level


def _module_env(tree: ast.Module, allowed: Allowed) -> tuple[dict[str, Any], ast.FunctionDef]:
    env: dict[str, Any] = {}
    func: ast.FunctionDef | None = None
    helper = _Lowerer(env, "\0", allowed)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            if node.name != ENTRY_POINT or func is not None:
                raise NotLowerable("helper functions")
            func = node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ("re", "string") or not allowed.module(alias.name):
                    raise NotLowerable(f"import {alias.name}")
                env[alias.asname or alias.name] = _Module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.module != "string" or node.level:
                raise NotLowerable("from-import")
            for alias in node.names:
                if alias.name not in _STRING_CONSTS or not allowed.module("string", alias.name):
                    raise NotLowerable(f"from string import {alias.name}")
                env[alias.asname or alias.name] = _STRING_CONSTS[alias.name]
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            v, _ = helper.ev(node.value)
            if isinstance(v, (Node, _Match, _Words, _CharList)):
                raise NotLowerable("module-level row value")
            env[node.targets[0].id] = v
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        else:
            raise NotLowerable(f"module-level {type(node).__name__}")
    if func is None:
        raise NotLowerable(f"no {ENTRY_POINT}")
    return env, func


# ------------------------------------------------------------------ public API


@dataclass(frozen=True)
class LoweredProgram:
    """A program as two IR nodes: its vote and the rows the interpreter must run."""

    vote: Val
    fallback: Val
    node_count: int

    def run(self, offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int8 votes, bool fallback) over the Arrow string buffers ``offsets``/``data``."""
        return run_many([self], offsets, data)[0]


def lower(source: str, allowed: Allowed = Allowed()) -> LoweredProgram | None:
    """The lowered form of ``source``, or None when it must run in the interpreter."""
    try:
        return _lower(source, allowed)
    except (NotLowerable, RecursionError, SyntaxError, ValueError):
        return None


def explain(source: str, allowed: Allowed = Allowed()) -> str | None:
    """Why ``source`` is not lowered (None when it is)."""
    try:
        _lower(source, allowed)
    except (NotLowerable, RecursionError, SyntaxError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _lower(source: str, allowed: Allowed) -> LoweredProgram:
    tree = ast.parse(source)
    env, func = _module_env(tree, allowed)
    a = func.args
    if (
        len(a.args) != 1
        or a.posonlyargs
        or a.kwonlyargs
        or a.vararg
        or a.kwarg
        or a.defaults
        or func.decorator_list
    ):
        raise NotLowerable("signature is not label_function(text)")
    param = a.args[0].arg
    if param in env:
        raise NotLowerable("parameter shadows a module name")
    lw = _Lowerer(env, param, allowed)
    fallthrough = lw.block(func.body, True)
    st = lw.st
    vote = st.ret
    # rows whose result is not representable here: None (fell through), or not int8
    bad = b_or(st.fault, fallthrough)
    if isinstance(vote, Node):
        bad = b_or(bad, b_or(_mk("cmp", "B", "lt", vote, -128), _mk("cmp", "B", "gt", vote, 127)))
    elif not -128 <= vote <= 127:
        raise NotLowerable("constant vote outside int8")
    for bit, check in ((TAINT_A, "nonascii"), (TAINT_C, "caseunsafe"), (TAINT_W, "wsunsafe")):
        bad = b_or(bad, b_and(st.tainted[bit], _mk(check, "B", TEXT)))
    return LoweredProgram(vote=vote, fallback=bad, node_count=_count_nodes([vote, bad]))


def _count_nodes(roots: list[Val]) -> int:
    seen: set[int] = set()
    stack = [r for r in roots if isinstance(r, Node)]
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        stack.extend(a for a in n.args if isinstance(a, Node))
    return len(seen)


# ------------------------------------------------------------------ kernels


@_kernel
def _k_nonascii(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    n = starts.shape[0]
    out = np.zeros(n, np.bool_)
    for i in nb.prange(n):
        for p in range(starts[i], ends[i]):
            if data[p] >= 128:
                out[i] = True
                break
    return out


@_kernel
def _k_unsafe(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows holding a code point flagged in ``table`` (valid UTF-8 assumed, as Arrow's)."""
    n = starts.shape[0]
    limit = table.shape[0]
    out = np.zeros(n, np.bool_)
    for i in nb.prange(n):
        p = starts[i]
        e = ends[i]
        while p < e:
            b = np.int64(data[p])
            if b < 128:
                p += 1
                continue
            if b < 0xE0:
                cp = ((b & 0x1F) << 6) | (np.int64(data[min(p + 1, e - 1)]) & 0x3F)
                p += 2
            elif b < 0xF0:
                cp = ((b & 0x0F) << 12) | ((np.int64(data[min(p + 1, e - 1)]) & 0x3F) << 6)
                cp |= np.int64(data[min(p + 2, e - 1)]) & 0x3F
                p += 3
            else:
                cp = limit  # 4-byte sequences are all >= 0x10000; the table ends below
                c = ((b & 0x07) << 18) | ((np.int64(data[min(p + 1, e - 1)]) & 0x3F) << 12)
                if c < limit:
                    cp = c | ((np.int64(data[min(p + 2, e - 1)]) & 0x3F) << 6)
                    cp |= np.int64(data[min(p + 3, e - 1)]) & 0x3F
                p += 4
            if cp < limit and table[cp]:
                out[i] = True
                break
    return out


@_kernel
def _k_case(data: np.ndarray, lo: int, hi: int, upper: bool) -> np.ndarray:
    """ASCII case mapping of data[lo:hi] (the batch's span, not the whole buffer)."""
    n = hi - lo
    out = np.empty(n, np.uint8)
    chunk = 1 << 16
    for c in nb.prange((n + chunk - 1) // chunk):
        a = c * chunk
        b = min(n, a + chunk)
        for p in range(a, b):
            x = data[lo + p]
            if upper:
                out[p] = x - 32 if 97 <= x <= 122 else x
            else:
                out[p] = x + 32 if 65 <= x <= 90 else x
    return out


@_kernel
def _k_strip(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, ws: np.ndarray, left: bool, right: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = starts.shape[0]
    s2 = starts.copy()
    e2 = ends.copy()
    for i in nb.prange(n):
        a = starts[i]
        b = ends[i]
        if left:
            while a < b and ws[data[a]]:
                a += 1
        if right:
            while b > a and ws[data[b - 1]]:
                b -= 1
        s2[i] = a
        e2[i] = b
    return s2, e2


@_kernel
def _k_contains(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    ndata: np.ndarray,
    noffs: np.ndarray,
    first: np.ndarray,
    order: np.ndarray,
) -> np.ndarray:
    """out[i, j]: needle j occurs in row i.

    ``first``/``order`` index the needles by their first two bytes (key b0 | b1 << 8;
    one-byte needles under key b0 | 256 << 8), so most positions cost one table read.
    """
    n = starts.shape[0]
    k = noffs.shape[0] - 1
    out = np.zeros((n, k), np.bool_)
    for i in nb.prange(n):
        e = ends[i]
        for p in range(starts[i], e):
            b0 = np.int64(data[p])
            one = b0 | (256 << 8)
            for q in range(first[one], first[one + 1]):
                out[i, order[q]] = True
            if p + 1 >= e:
                continue
            key = b0 | (np.int64(data[p + 1]) << 8)
            for q in range(first[key], first[key + 1]):
                j = order[q]
                if out[i, j]:
                    continue
                a = noffs[j]
                ln = noffs[j + 1] - a
                if p + ln > e:
                    continue
                ok = True
                for t in range(2, ln):
                    if data[p + t] != ndata[a + t]:
                        ok = False
                        break
                if ok:
                    out[i, j] = True
    return out


@_kernel
def _k_count(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, needle: np.ndarray) -> np.ndarray:
    n = starts.shape[0]
    ln = needle.shape[0]
    out = np.zeros(n, np.int64)
    for i in nb.prange(n):
        p = starts[i]
        e = ends[i]
        c = 0
        while p + ln <= e:
            ok = True
            for t in range(ln):
                if data[p + t] != needle[t]:
                    ok = False
                    break
            if ok:
                c += 1
                p += ln
            else:
                p += 1
        out[i] = c
    return out


@_kernel
def _k_affix(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, needle: np.ndarray, mode: int
) -> np.ndarray:
    """mode 0 startswith, 1 endswith, 2 equals."""
    n = starts.shape[0]
    ln = needle.shape[0]
    out = np.zeros(n, np.bool_)
    for i in nb.prange(n):
        a = starts[i]
        b = ends[i]
        if b - a < ln or (mode == 2 and b - a != ln):
            continue
        base = a if mode != 1 else b - ln
        ok = True
        for t in range(ln):
            if data[base + t] != needle[t]:
                ok = False
                break
        out[i] = ok
    return out


@_kernel
def _k_eq2(
    d1: np.ndarray, s1: np.ndarray, e1: np.ndarray, d2: np.ndarray, s2: np.ndarray, e2: np.ndarray
) -> np.ndarray:
    n = s1.shape[0]
    out = np.zeros(n, np.bool_)
    for i in nb.prange(n):
        ln = e1[i] - s1[i]
        if ln != e2[i] - s2[i]:
            continue
        ok = True
        for t in range(ln):
            if d1[s1[i] + t] != d2[s2[i] + t]:
                ok = False
                break
        out[i] = ok
    return out


@_kernel
def _k_charcount(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    table: np.ndarray,
    mode: np.ndarray,
    ubits: np.ndarray,
) -> np.ndarray:
    """out[i, j]: chars of row i accepted by predicate j.

    ASCII: bit j of table[byte]. A non-ASCII char (its UTF-8 lead byte): mode[j] 0 no,
    1 yes, 2 bit j of ubits[code point] (a Unicode table built from Python's answers).
    """
    n = starts.shape[0]
    k = mode.shape[0]
    out = np.zeros((n, k), np.int64)
    for i in nb.prange(n):
        e = ends[i]
        for p in range(starts[i], e):
            b = np.int64(data[p])
            if b < 128:
                bits = table[b]
                if bits:
                    for j in range(k):
                        out[i, j] += (bits >> j) & 1
            elif b >= 192:  # a UTF-8 lead byte: one code point
                if b < 0xE0:
                    cp = ((b & 0x1F) << 6) | (np.int64(data[min(p + 1, e - 1)]) & 0x3F)
                elif b < 0xF0:
                    cp = ((b & 0x0F) << 12) | ((np.int64(data[min(p + 1, e - 1)]) & 0x3F) << 6)
                    cp |= np.int64(data[min(p + 2, e - 1)]) & 0x3F
                else:
                    cp = ((b & 0x07) << 18) | ((np.int64(data[min(p + 1, e - 1)]) & 0x3F) << 12)
                    cp |= (np.int64(data[min(p + 2, e - 1)]) & 0x3F) << 6
                    cp |= np.int64(data[min(p + 3, e - 1)]) & 0x3F
                ub = ubits[cp] if cp < ubits.shape[0] else np.uint64(0)
                for j in range(k):
                    if mode[j] == 1:
                        out[i, j] += 1
                    elif mode[j] == 2:
                        out[i, j] += np.int64((ub >> np.uint64(j)) & np.uint64(1))
    return out


@_kernel
def _k_words(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    ws: np.ndarray,
    ndata: np.ndarray,
    noffs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Word count of s.split() and hits[i, j]: how many of the words equal needle j."""
    n = starts.shape[0]
    k = noffs.shape[0] - 1
    counts = np.zeros(n, np.int64)
    hits = np.zeros((n, k), np.int64)
    for i in nb.prange(n):
        p = starts[i]
        e = ends[i]
        c = 0
        while p < e:
            while p < e and ws[data[p]]:
                p += 1
            if p >= e:
                break
            a = p
            while p < e and not ws[data[p]]:
                p += 1
            c += 1
            ln = p - a
            for j in range(k):
                if noffs[j + 1] - noffs[j] != ln:
                    continue
                ok = True
                for t in range(ln):
                    if data[a + t] != ndata[noffs[j] + t]:
                        ok = False
                        break
                if ok:
                    hits[i, j] += 1
        counts[i] = c
    return counts, hits


@_kernel
def _k_gather(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = starts.shape[0]
    offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        offs[i + 1] = offs[i] + ends[i] - starts[i]
    out = np.empty(offs[n], np.uint8)
    for i in nb.prange(n):
        out[offs[i] : offs[i + 1]] = data[starts[i] : ends[i]]
    return offs, out


_WS_TABLE = np.zeros(256, np.bool_)
_WS_TABLE[list(_WS)] = True


def warm_up() -> float:
    """Compile (or load from the cache) every kernel and start the threads; returns the
    seconds spent. The worker calls this before it tightens its rlimits."""
    import time

    t0 = time.perf_counter()
    data = np.frombuffer(b"Ab c\xc3\xa9 d", np.uint8)  # read-only, like Arrow's buffers
    offs = np.array([0, 4, data.shape[0]], np.int64)
    run_many(_warm_programs(), offs, data)
    _k_gather(data, offs[:-1].copy(), offs[1:].copy())  # regexes over stripped/filtered rows
    list(_pool().map(abs, range(_threads())))
    return time.perf_counter() - t0


def seed_cache(seed: str | None) -> int:
    """Copy kernels compiled by the host (``seed``, read-only) into NUMBA_CACHE_DIR.

    numba files its cache under a directory named after the source file's directory,
    which differs between host and sandbox (/sbx); the index is keyed by the file's
    mtime and size, which a bind mount keeps. Returns how many files were copied.
    """
    import hashlib
    import shutil

    target_root = os.environ.get("NUMBA_CACHE_DIR")
    if not seed or not target_root or not os.path.isdir(seed):
        return 0
    _TABLE_DIR.append(seed)
    here = os.path.dirname(os.path.abspath(__file__))
    sub = os.path.basename(here) + "_" + hashlib.sha1(here.encode()).hexdigest()
    target = os.path.join(target_root, sub)
    os.makedirs(target, exist_ok=True)
    copied = 0
    for dirpath, _dirs, files in os.walk(seed):
        for name in files:
            if name.startswith("lower.") and name.endswith((".nbi", ".nbc")):
                shutil.copyfile(os.path.join(dirpath, name), os.path.join(target, name))
                copied += 1
    return copied


class BatchLowering:
    """The worker's side: lower what it can once, then answer per Arrow batch."""

    def __init__(self, sources: dict[str, str], allowed: Allowed = Allowed()) -> None:
        self.programs: dict[str, LoweredProgram] = {}
        for lid, src in sources.items():
            prog = lower(src, allowed)
            if prog is not None:
                self.programs[lid] = prog
        self._batch: Any = None
        self._results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.broken = False

    def answer(
        self,
        lid: str,
        column: Any,
        k: int,
        interpret: Callable[[np.ndarray | None], tuple[bytes, int, str | None, str | None]],
    ) -> tuple[bytes, int, str | None, str | None]:
        """The worker's reply for one lowered labeler on one batch, exactly as the
        interpreter would give it: (int8 bytes, errors, first error, violation).

        ``interpret(rows)`` runs the interpreter on those batch rows (all when None).
        Fallback rows go to it; so does the whole batch when a vote is outside
        -1..k-1, so that the contract violation is reported as the interpreter does.
        """
        if self.broken:
            return interpret(None)
        if self._batch is not column:  # all lowered labelers of a batch in one pass
            try:
                self._results = self.run(column)
            except Exception:  # noqa: BLE001 - our kernels failed: the interpreter answers
                self.broken = True
                return interpret(None)
            self._batch = column
        votes, fb = self._results[lid]
        ok = ~fb
        if ((votes[ok] < -1) | (votes[ok] >= k)).any():
            return interpret(None)
        if not fb.any():
            return votes.tobytes(), 0, None, None
        rows = np.flatnonzero(fb)
        raw, errors, first, violation = interpret(rows)
        if violation is not None:
            return interpret(None)
        votes = votes.copy()
        votes[rows] = np.frombuffer(raw, np.int8)
        return votes.tobytes(), errors, first, None

    def run(self, column: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(int8 votes, fallback rows) per lowered id over a pyarrow string array."""
        import pyarrow as pa

        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        n = len(column)
        if not self.programs:
            return {}
        large = pa.types.is_large_string(column.type)
        if not (large or pa.types.is_string(column.type)):
            raise TypeError(f"expected a string column, got {column.type}")
        bufs = column.buffers()
        odt = np.int64 if large else np.int32
        offsets = np.frombuffer(bufs[1], odt)[column.offset : column.offset + n + 1]
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        ids = list(self.programs)
        results = run_many([self.programs[i] for i in ids], offsets, data)
        nulls = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
        out = {}
        for lid, (votes, fb) in zip(ids, results, strict=True):
            if nulls is not None:  # a null row abstains without calling the program
                votes[nulls] = -1
                fb[nulls] = False
            out[lid] = (votes, fb)
        return out


def _warm_programs() -> list[LoweredProgram]:
    src = (
        "import re\n"
        "def label_function(t):\n"
        "    s = t.lower().strip()\n"
        "    n = sum(1 for c in t if c.isupper()) + t.count('b') + len(s.split())\n"
        "    if 'b' in s.split() or t.startswith('A') or t.endswith('d') or t == 'x' or t == s:\n"
        "        return 1\n"
        "    if re.search(r'\\bc', s) and t.upper():\n"
        "        return 0\n"
        "    return n\n"
    )
    prog = lower(src)
    assert prog is not None
    return [prog]


# ------------------------------------------------------------------ evaluation

StrVal = tuple[np.ndarray, np.ndarray, np.ndarray]  # data, starts, ends


class _Evaluator:
    def __init__(self, offsets: np.ndarray, data: np.ndarray, needed: list[Node]) -> None:
        # Kernels are compiled per argument type, read-only-ness included, and nothing may
        # compile after warm_up (the sandbox forbids writing the cache by then): text
        # bytes are always read-only views, row bounds always fresh int64 arrays.
        starts = np.array(offsets[:-1], dtype=np.int64)
        ends = np.array(offsets[1:], dtype=np.int64)
        self.n = starts.shape[0]
        self.memo: dict[int, Any] = {TEXT.id: (_readonly(data), starts, ends)}
        # group the needle and char-class tests by the string they look at
        self.groups: dict[tuple[str, int], list[Node]] = {}
        for node in needed:
            if node.op in ("contains", "wordin", "words", "wordcount", "charcount"):
                grp = "words" if node.op in ("wordin", "words", "wordcount") else node.op
                self.groups.setdefault((grp, node.args[0].id), []).append(node)

    def get(self, v: Val) -> Any:
        if not isinstance(v, Node):
            return v
        r = self.memo.get(v.id)
        if r is None:
            r = self.compute(v)
            self.memo[v.id] = r
        return r

    def compute(self, node: Node) -> Any:
        op, args = node.op, node.args
        if op in ("lower", "upper"):
            data, starts, ends = self.get(args[0])
            lo = int(starts.min()) if self.n else 0
            hi = int(ends.max()) if self.n else 0
            return (_readonly(_k_case(data, lo, hi, op == "upper")), starts - lo, ends - lo)
        if op in ("strip", "lstrip", "rstrip"):
            data, starts, ends = self.get(args[0])
            s2, e2 = _k_strip(data, starts, ends, _WS_TABLE, op != "rstrip", op != "lstrip")
            return (data, s2, e2)
        if op == "nonempty":
            _, starts, ends = self.get(args[0])
            return ends > starts
        if op == "nonascii":
            return _k_nonascii(*self.get(args[0]))
        if op in ("caseunsafe", "wsunsafe"):
            case, ws = _unsafe_tables()
            data, starts, ends = self.get(args[0])
            return _k_unsafe(data, starts, ends, case if op == "caseunsafe" else ws)
        if op == "contains":
            self.group_contains(args[0])
            return self.memo[node.id]
        if op in ("words", "wordin", "wordcount"):
            self.group_words(args[0])
            return self.memo[node.id]
        if op == "charcount":
            self.group_charcount(args[0])
            return self.memo[node.id]
        if op == "count":
            data, starts, ends = self.get(args[0])
            return _k_count(data, starts, ends, np.frombuffer(args[1], np.uint8))
        if op in ("startswith", "endswith", "streq"):
            mode = {"startswith": 0, "endswith": 1, "streq": 2}[op]
            data, starts, ends = self.get(args[0])
            return _k_affix(data, starts, ends, np.frombuffer(args[1], np.uint8), mode)
        if op == "regex":
            return self.regex(node)
        if op == "streq2":
            return _k_eq2(*self.get(args[0]), *self.get(args[1]))
        if op == "not":
            return ~self.get(args[0])
        if op == "and":
            return self.get(args[0]) & self.get(args[1])
        if op == "or":
            return self.get(args[0]) | self.get(args[1])
        if op == "where":
            c, a, b = (self.get(x) for x in args)
            out = np.where(c, a, b)
            return out.astype({"B": np.bool_, "I": np.int64, "F": np.float64}[node.kind], copy=False)
        if op == "int":
            return self.get(args[0]).astype(np.int64)
        if op == "abs":
            return np.abs(self.get(args[0]))
        if op in ("min", "max"):
            f = np.minimum if op == "min" else np.maximum
            return f(self.get(args[0]), self.get(args[1]))
        if op == "cmp":
            a, b = self.get(args[1]), self.get(args[2])
            return _CMP[args[0]](a, b)
        if op == "arith":
            return self.arith(node, args[0], self.get(args[1]), self.get(args[2]))
        raise AssertionError(f"unknown IR op {op}")  # pragma: no cover

    def arith(self, node: Node, op: str, a: Any, b: Any) -> np.ndarray:
        kind = np.float64 if node.kind == "F" else np.int64
        a = np.asarray(a, dtype=kind) if not isinstance(a, np.ndarray) else a.astype(kind, copy=False)
        b = np.asarray(b, dtype=kind) if not isinstance(b, np.ndarray) else b.astype(kind, copy=False)
        with np.errstate(all="ignore"):
            if op == "add":
                r = a + b
            elif op == "sub":
                r = a - b
            elif op == "mul":
                r = a * b
            else:
                # division by zero rows are faults already; keep the arithmetic quiet there
                if op == "div":
                    r = np.true_divide(a, np.where(b == 0, 1, b))
                else:
                    safe = np.where(b == 0, 1, b)
                    r = np.floor_divide(a, safe) if op == "floordiv" else np.mod(a, safe)
        return np.broadcast_to(r, (self.n,)) if np.ndim(r) == 0 else r

    def group_contains(self, s: Node) -> None:
        nodes = self.groups.get(("contains", s.id), [])
        data, starts, ends = self.get(s)
        needles = [n.args[1] for n in nodes]
        for lo in range(0, len(needles), 64):
            chunk = needles[lo : lo + 64]
            ndata = np.frombuffer(b"".join(chunk) or b"\0", np.uint8)
            noffs = np.zeros(len(chunk) + 1, np.int64)
            noffs[1:] = np.cumsum([len(x) for x in chunk])
            keys = [x[0] | ((x[1] if len(x) > 1 else 256) << 8) for x in chunk]
            by_key = sorted(range(len(chunk)), key=lambda j: keys[j])
            counts = np.zeros(257 * 256 + 1, np.int64)
            for j in by_key:
                counts[keys[j] + 1] += 1
            first = np.cumsum(counts)
            hits = _k_contains(data, starts, ends, ndata, noffs, first, np.array(by_key, np.int64))
            for j, node in enumerate(nodes[lo : lo + 64]):
                self.memo[node.id] = hits[:, j]

    def group_words(self, s: Node) -> None:
        nodes = self.groups.get(("words", s.id), [])
        data, starts, ends = self.get(s)
        needles = sorted({n.args[1] for n in nodes if n.op != "words"})
        ndata = np.frombuffer(b"".join(needles) or b"\0", np.uint8)
        noffs = np.zeros(len(needles) + 1, np.int64)
        noffs[1:] = np.cumsum([len(x) for x in needles])
        counts, hits = _k_words(data, starts, ends, _WS_TABLE, ndata, noffs)
        for node in nodes:
            if node.op == "words":
                self.memo[node.id] = counts
            else:
                col = hits[:, needles.index(node.args[1])]
                self.memo[node.id] = col if node.op == "wordcount" else col > 0

    def group_charcount(self, s: Node) -> None:
        nodes = self.groups.get(("charcount", s.id), [])
        data, starts, ends = self.get(s)
        for lo in range(0, len(nodes), 60):
            chunk = nodes[lo : lo + 60]
            table = np.zeros(128, np.int64)
            mode = np.zeros(len(chunk), np.int8)
            for j, node in enumerate(chunk):
                for c in node.args[1]:
                    table[c] |= 1 << j
                mode[j] = 2 if node.args[2] is None else int(node.args[2])
            trees = tuple(node.args[3] if node.args[2] is None else None for node in chunk)
            counts = _k_charcount(data, starts, ends, table, mode, _group_table(trees))
            for j, node in enumerate(chunk):
                self.memo[node.id] = counts[:, j]

    def regex(self, node: Node) -> np.ndarray:
        """RE2 (ASCII classes) on ASCII rows; Python's own re on the others, over the
        string the program would have built (text.lower().strip() ... redone in Python),
        so a regex never sends a row to the interpreter."""
        s, re2, pre_node, pattern, flags, mode = node.args
        data, starts, ends = self.get(s)
        pre = self.get(pre_node)
        cand = np.arange(self.n) if pre is True else np.flatnonzero(pre)
        out = np.zeros(self.n, np.bool_)
        if cand.shape[0]:
            out[cand] = _re2_match(data, starts[cand], ends[cand], re2)
        chain: list[str] = []
        x = s
        while x.op != "text":
            chain.append(x.op)
            x = x.args[0]
        odd = self.get(_mk("nonascii", "B", TEXT))
        if pre is not True:
            # The required literal is ASCII: Python's string holds it iff the byte-level
            # one does, unless a char folds into ASCII (C-unsafe: 'K', 'ß'); stripping
            # Unicode spaces only shortens Python's string, so the test stays a superset.
            if flags & re.I or any(op in ("lower", "upper") for op in chain):
                odd = odd & (pre | self.get(_mk("caseunsafe", "B", TEXT)))
            else:
                odd = odd & pre
        rows = np.flatnonzero(odd)
        if rows.shape[0]:
            all_rows, texts = self.unicode_texts()
            rx = _compiled(pattern, flags)
            fn = rx.search if mode == "search" else rx.match if mode == "match" else rx.fullmatch
            for i, at in zip(rows.tolist(), np.searchsorted(all_rows, rows).tolist(), strict=True):
                text = texts[at]
                for op in reversed(chain):
                    text = getattr(text, op)()
                out[i] = fn(text) is not None
        return out

    def unicode_texts(self) -> tuple[np.ndarray, list[str]]:
        """The batch's non-ASCII rows (indices, Python strings), decoded once by Arrow."""
        got = self.memo.get(-1)
        if got is None:
            import pyarrow as pa

            rows = np.flatnonzero(self.get(_mk("nonascii", "B", TEXT)))
            data, starts, ends = self.get(TEXT)
            offs, buf = _k_gather(data, starts[rows], ends[rows])
            arr = pa.LargeStringArray.from_buffers(rows.shape[0], pa.py_buffer(offs), pa.py_buffer(buf))
            got = self.memo[-1] = (rows, arr.to_pylist())
        return got  # type: ignore[no-any-return]


_RX: dict[tuple[str, int], re.Pattern[str]] = {}


def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    rx = _RX.get((pattern, flags))
    if rx is None:
        rx = _RX[(pattern, flags)] = re.compile(pattern, flags)
    return rx


def _re2_match(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, re2: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = starts.shape[0]
    if n and (starts[0] != 0 or not np.array_equal(starts[1:], ends[:-1])):
        offs, data = _k_gather(data, starts, ends)
    else:
        offs = np.empty(n + 1, np.int64)
        offs[:1] = starts[:1] if n else 0
        offs[1:] = ends
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offs), pa.py_buffer(data))
    parts = _split(n, _threads())
    if len(parts) == 1:
        return np.asarray(pc.match_substring_regex(arr, pattern=re2).to_numpy(zero_copy_only=False), np.bool_)
    results = list(
        _pool().map(
            lambda ab: pc.match_substring_regex(arr.slice(ab[0], ab[1] - ab[0]), pattern=re2).to_numpy(
                zero_copy_only=False
            ),
            parts,
        )
    )
    return np.concatenate(results).astype(np.bool_, copy=False)


_GROUP_TABLES: dict[tuple[Any, ...], np.ndarray] = {}
_METHOD_TABLES: dict[str, np.ndarray] = {}
_TABLE_DIR: list[str] = []  # where the host saved Unicode tables (see save_unicode_tables)
_NCP = 0x110000


def _group_table(trees: tuple[Any, ...]) -> np.ndarray:
    """uint64 per code point: bit j = predicate j accepts it (only for trees given)."""
    got = _GROUP_TABLES.get(trees)
    if got is None:
        if all(t is None for t in trees):
            got = np.zeros(1, np.uint64)
        else:
            got = np.zeros(_NCP, np.uint64)
            for j, t in enumerate(trees):
                if t is not None:
                    got |= _unicode_table(t).astype(np.uint64) << np.uint64(j)
        _GROUP_TABLES[trees] = got
    return got


def _unicode_table(tree: Any) -> np.ndarray:
    op = tree[0]
    if op == "true":
        return np.ones(_NCP, np.bool_)
    if op == "m":
        return _method_table(tree[1])
    if op == "set":
        out = np.zeros(_NCP, np.bool_)
        out[[ord(c) for c in tree[1]]] = True
        return out
    if op == "not":
        return ~_unicode_table(tree[1])
    return _unicode_table(tree[1]) & _unicode_table(tree[2])


def _method_table(name: str) -> np.ndarray:
    """chr(cp).<name>() for every code point: from the host's file, else computed here."""
    got = _METHOD_TABLES.get(name)
    if got is None:
        for d in _TABLE_DIR:
            path = os.path.join(d, f"unicode-{name}.npy")
            if os.path.isfile(path):
                got = np.unpackbits(np.load(path, allow_pickle=False))[:_NCP].astype(np.bool_)
                break
        if got is None:
            got = np.fromiter((getattr(chr(c), name)() for c in range(_NCP)), np.bool_, _NCP)
        _METHOD_TABLES[name] = got
    return got


def save_unicode_tables(directory: str) -> None:
    """Write every char-method table (the host does this once, next to the kernels)."""
    for name in _CHAR_METHODS:
        np.save(os.path.join(directory, f"unicode-{name}.npy"), np.packbits(_method_table(name)))
    np.save(os.path.join(directory, "unsafe-tables.npy"), np.stack(_unsafe_tables()).astype(np.uint8))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.uint8)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


_CMP: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}

_POOL: ThreadPoolExecutor | None = None


def _threads() -> int:
    _jit_all()
    threads: int = nb.config.NUMBA_NUM_THREADS
    return max(1, min(threads, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_threads())
    return _POOL


def _split(n: int, k: int) -> list[tuple[int, int]]:
    if n < 4096 or k <= 1:
        return [(0, n)]
    step = (n + k - 1) // k
    return [(a, min(n, a + step)) for a in range(0, n, step)]


def _needed(roots: list[Val]) -> list[Node]:
    seen: dict[int, Node] = {}
    stack = [r for r in roots if isinstance(r, Node)]
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen[n.id] = n
        stack.extend(a for a in n.args if isinstance(a, Node))
    return list(seen.values())


def run_many(
    programs: Sequence[LoweredProgram], offsets: np.ndarray, data: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run several lowered programs over one batch, sharing every common sub-expression."""
    n = offsets.shape[0] - 1
    if n <= 0:
        return [(np.zeros(0, np.int8), np.zeros(0, np.bool_)) for _ in programs]
    roots: list[Val] = []
    for p in programs:
        roots += [p.vote, p.fallback]
    ev = _Evaluator(offsets, data, _needed(roots))
    out = []
    for p in programs:
        fb = ev.get(p.fallback)
        fb = np.broadcast_to(np.asarray(fb, np.bool_), (n,)).copy()
        vote = ev.get(p.vote)
        votes = np.broadcast_to(np.asarray(vote), (n,))
        v8 = np.where(fb, -1, votes).astype(np.int8)
        out.append((v8, fb))
    return out


__all__ = [
    "ENTRY_POINT",
    "Allowed",
    "BatchLowering",
    "LoweredProgram",
    "NotLowerable",
    "explain",
    "lower",
    "run_many",
    "seed_cache",
    "translate_regex",
    "warm_up",
]

"""The trusted worker that runs generated labelers *inside* a sandbox.

Started as ``python -I -S worker.py [DIR ...]``: the DIRs go in front of ``sys.path``
(where pyarrow and RestrictedPython are). It must not import ``alchemist_engine``; only
the standard library, pyarrow, RestrictedPython and the sibling ``protocol.py`` exist
in the sandbox. Frames are described in ``protocol.py``.

Order matters: the worker imports everything it will ever need and takes private
copies of its protocol pipes *before* it tightens its own rlimits and before any
untrusted code runs; afterwards fd 0 and fd 1 point at /dev/null, so nothing a program
does can write into the protocol stream.
"""

from __future__ import annotations

import os
import sys

# Runs before the heavy imports so a broken sandbox layout shows up as a clear message.
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))] + sys.argv[1:]

import ast  # noqa: E402
import builtins  # noqa: E402
import importlib  # noqa: E402
import mmap  # noqa: E402
import operator  # noqa: E402
import reprlib  # noqa: E402
import resource  # noqa: E402
import types  # noqa: E402
from array import array  # noqa: E402
from typing import Any  # noqa: E402

import protocol as P  # type: ignore[import-not-found]  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.ipc  # noqa: E402,F401
from RestrictedPython import compile_restricted_exec  # noqa: E402
from RestrictedPython.Guards import (  # noqa: E402
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES  # noqa: E402

LABEL_SCHEMA = pa.schema([pa.field("label", pa.int8(), nullable=False)])
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "|=": operator.ior,
    "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise SyntaxError(f"unsupported in-place operator {op}")
    return fn(x, y)


def _apply(f: Any, *a: Any, **kw: Any) -> Any:
    return f(*a, **kw)


class Labeler:
    """One compiled program with its own globals, builtins and import proxies."""

    def __init__(self, lid: str, source: str, policy: dict[str, Any], real: dict[str, Any]) -> None:
        self.id = lid
        self.fn: Any = None
        forbidden = frozenset(policy["forbidden_attributes"]) | INSPECT_ATTRIBUTES
        allowed = policy["modules"]
        # Fresh proxies per labeler: even if one managed to mutate a proxy, no other
        # labeler would see it.
        proxies = {name: _proxy(name, real[name], attrs) for name, attrs in allowed.items() if name in real}

        def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
            if level != 0 or name not in proxies:
                raise ImportError(f"module {name!r} is not allowed")
            return proxies[name]

        bi = {n: getattr(builtins, n) for n in policy["builtins"] if hasattr(builtins, n)}
        bi["__import__"] = guarded_import
        self.globals: dict[str, Any] = {
            "__builtins__": bi,
            "__name__": "labeler",
            # Attribute names are always literal (no getattr builtin exists here), so
            # they are checked once, statically, below and by RestrictedPython's
            # compiler (underscores, frame/code attributes); at run time the C
            # builtins are enough and cost a third of the Python-level guards.
            "_getattr_": getattr,
            "_getitem_": operator.getitem,
            "_getiter_": iter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": _inplacevar,
            "_apply_": _apply,
        }
        result = compile_restricted_exec(source, filename=f"<labeler {lid}>")
        if result.errors or result.code is None:
            raise SyntaxError("; ".join(result.errors))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and (node.attr in forbidden or node.attr.startswith("_")):
                raise SyntaxError(f"line {node.lineno}: attribute {node.attr!r} is not allowed")
        exec(result.code, self.globals)
        fn = self.globals.get("label_function")
        if not callable(fn):
            raise TypeError("the program does not define a callable label_function")
        self.fn = fn


def _proxy(name: str, module: Any, attrs: list[str]) -> Any:
    """A stand-in for ``module`` holding only ``attrs`` (never the module itself)."""
    exposed = sorted(a for a in attrs if hasattr(module, a))

    def missing(self: Any, attr: str) -> Any:
        raise AttributeError(f"module {name!r} has no attribute {attr!r} here; allowed: {', '.join(exposed)}")

    cls = type(f"module_{name}", (types.SimpleNamespace,), {"__getattr__": missing, "__slots__": ()})
    return cls(**{a: getattr(module, a) for a in exposed})


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_short.repr(str(exc))[1:-1]}"[:300]


def _label(lab: Labeler, texts: list[Any], k: int) -> tuple[bytes, int, str | None, str | None]:
    """Run one labeler over a batch: (int8 bytes, error count, first error, violation).

    The program is called exactly once per row, in order (stateful programs see what
    they would see in a plain loop), but through ``map`` so the per-row cost is the
    program's own; a row that raises abstains and the map resumes after it.
    """
    if None in texts:  # rare: null rows abstain without calling the program
        return _label_rows(lab, texts, k)
    vals: list[Any] = []
    errors = 0
    first: str | None = None
    it = iter(texts)
    fn = lab.fn
    while True:
        try:
            vals.extend(map(fn, it))  # list.extend keeps what came before a raise
            break
        except BaseException as exc:  # noqa: B036 - SystemExit & co. are program faults too
            errors += 1
            if first is None:
                first = f"row {len(vals)}: {_describe(exc)}"
            vals.append(-1)
    violation = _check(vals, k)
    if violation is not None:
        return b"", errors, first, violation
    return array("b", vals).tobytes(), errors, first, None


def _check(vals: list[Any], k: int) -> str | None:
    # bool is an int subclass, but True/False are not class ids: a contract error.
    if set(map(type, vals)) <= {int} and (not vals or (min(vals) >= -1 and max(vals) < k)):
        return None
    for v in vals:
        if not (type(v) is int and -1 <= v < k):
            shown = _short.repr(v) if type(v) in (str, float, int, bool, type(None)) else "..."
            return f"returned {type(v).__name__} {shown}; label_function must return an int in -1..{k - 1}"
    return None


def _label_rows(lab: Labeler, texts: list[Any], k: int) -> tuple[bytes, int, str | None, str | None]:
    out = array("b", bytes(len(texts)))
    errors = 0
    first: str | None = None
    fn = lab.fn
    for i, t in enumerate(texts):
        if t is None:
            out[i] = -1
            continue
        try:
            v = fn(t)
        except BaseException as exc:  # noqa: B036
            errors += 1
            if first is None:
                first = f"row {i}: {_describe(exc)}"
            out[i] = -1
            continue
        bad = _check([v], k)
        if bad is not None:
            return b"", errors, first, bad
        out[i] = v
    return out.tobytes(), errors, first, None


def _lowering(setup: dict[str, Any], policy: dict[str, Any]) -> Any:
    """Lowered kernels for the programs that have a lowerable shape (lower.py), or None.

    Runs before the rlimits tighten: numba's import, the kernels (copied from the host's
    compiled cache into a private scratch dir) and its threads are all set up here.
    Lowering only reads the programs' AST; nothing of theirs runs.
    """
    if not setup.get("lower"):
        return None
    import tempfile

    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="kernels-")
    import lower as LW  # type: ignore[import-not-found]

    LW.seed_cache(setup.get("kernel_cache"))
    LW.warm_up()
    sources = {p["id"]: p["source"] for p in setup["programs"]}
    return LW.BatchLowering(sources, LW.Allowed.from_policy(policy))


class _Texts:
    """A batch's rows as Python strings, built only when some labeler is interpreted."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.rows: list[Any] | None = None

    def __call__(self) -> list[Any]:
        if self.rows is None:
            self.rows = self.col.to_pylist()
        return self.rows


def _label_subset(lab: Labeler, texts: list[Any], rows: Any, k: int) -> tuple[bytes, int, str | None, str | None]:
    """Interpret only ``rows`` of the batch (a lowered labeler's fallback rows)."""
    if rows is None:
        return _label(lab, texts, k)
    raw, errors, first, violation = _label(lab, [texts[i] for i in rows], k)
    if first is not None and first.startswith("row "):  # number rows as in the batch
        j, _, rest = first[4:].partition(":")
        first = f"row {int(rows[int(j)])}:{rest}"
    return raw, errors, first, violation


def _arrow_labels(raw: bytes, n: int) -> bytes:
    # from_buffers, not pa.array(list): the latter imports pandas (~0.4 s of start-up).
    arr = pa.Array.from_buffers(pa.int8(), n, [None, pa.py_buffer(raw)])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, LABEL_SCHEMA) as w:
        w.write_batch(pa.RecordBatch.from_arrays([arr], schema=LABEL_SCHEMA))
    return sink.getvalue().to_pybytes()


def _limit(which: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (cap, cap))
    except (ValueError, OSError):
        pass  # a limit we cannot lower is enforced by the sandbox around us instead


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tighten(limits: dict[str, Any]) -> None:
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NOFILE, int(limits.get("nofile", 32)))
    if limits.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]))
    if limits.get("nproc"):
        _limit(resource.RLIMIT_NPROC, int(limits["nproc"]))
    if limits.get("memory_mb"):
        # Address space = what the worker has mapped after its imports + the budget.
        _limit(resource.RLIMIT_AS, _vm_size() + int(limits["memory_mb"]) * (1 << 20))
    sys.setrecursionlimit(int(limits.get("recursion", 400)))


def _open_data(spec: dict[str, Any] | None) -> Any:
    """The shared read-only text file, memory-mapped: by inherited fd or by path."""
    if not spec:
        return None
    fd = int(spec["fd"]) if "fd" in spec else os.open(spec["path"], os.O_RDONLY)
    # mmap the descriptor itself: re-opening it by path would need read permission.
    mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    os.close(fd)
    return pa.ipc.open_file(pa.py_buffer(mm))


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = sys.stdout = open(os.devnull, "w")  # noqa: SIM115

    def send(payload: bytes) -> None:
        view = memoryview(P.frame(payload))
        while view:
            view = view[os.write(out_fd, view) :]

    first = P.read_frame(proto_in)
    if first is None or first[:1] != P.SETUP:
        send(P.FATAL + b"expected a setup frame")
        os._exit(3)
    _, setup, _ = P.parse_message(first)
    policy = setup["policy"]
    k = int(setup["cardinality"])
    real = {}
    for name in policy["modules"]:
        try:
            real[name] = importlib.import_module(name)
        except ImportError:
            pass  # listed but absent here: programs importing it get ImportError
    shared = _open_data(setup.get("data"))
    try:
        lowering = _lowering(setup, policy)
    except Exception as exc:  # noqa: BLE001 - no kernels (numba missing, say): interpret all
        print(f"lowering disabled: {_describe(exc)}", file=sys.stderr)
        lowering = None
    _tighten(setup.get("limits", {}))
    send(P.READY)

    labelers: dict[str, Labeler] = {}
    for prog in setup["programs"]:
        err = None
        try:
            labelers[prog["id"]] = Labeler(prog["id"], prog["source"], policy, real)
        except BaseException as exc:  # noqa: B036 - module-level code is untrusted
            err = _describe(exc)
        lowered = err is None and lowering is not None and prog["id"] in lowering.programs
        send(P.message(P.HELLO, {"id": prog["id"], "error": err, "lowered": lowered}))

    while True:
        payload = P.read_frame(proto_in)
        if payload is None or payload[:1] == P.END:
            os._exit(0)
        tag, head, body = P.parse_message(payload)
        if tag != P.BATCH:
            send(P.FATAL + b"unexpected frame tag")
            os._exit(3)
        if shared is not None:
            col = shared.get_batch(int(head["batch"])).column(0)
        else:
            col = pa.ipc.open_stream(pa.py_buffer(body)).read_all().column(0)
        n = len(col)
        texts = _Texts(col)
        for lid in head["run"]:
            if lowering is not None and lid in lowering.programs:
                lab = labelers[lid]
                raw, errors, first_err, violation = lowering.answer(
                    lid, col, k, lambda rows, lab=lab, texts=texts: _label_subset(lab, texts(), rows, k)
                )
            else:
                raw, errors, first_err, violation = _label(labelers[lid], texts(), k)
            reply = {"id": lid, "batch": head["batch"], "errors": errors, "first_error": first_err, "violation": violation}
            send(P.message(P.LABELS, reply, _arrow_labels(raw, n) if violation is None else b""))


if __name__ == "__main__":
    main()

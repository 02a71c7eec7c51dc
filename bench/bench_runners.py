"""Runners vs. plain in-process interpretation: wall time, overhead ratio, start-up.

    .venv/bin/python bench/bench_runners.py                 # 100k and 1M rows x 10 labelers
    .venv/bin/python bench/bench_runners.py --rows 100000 --runners subprocess

Ten typical LLM-style labelers (keyword lists, regexes, length and punctuation tests)
run over synthetic short reviews, interpreted (lowering off). "in-process" runs the
same programs as plain Python in this process, one after the other, on one core,
which is the baseline the issue sets (the sandbox never does this with real programs).
Every runner's matrix is checked equal to the baseline's before its time is printed.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np
import pyarrow as pa
from alchemist_engine.labelers import LabelerSpec
from alchemist_engine.sandbox import available_runners, get_runner

PROGRAMS = [
    "import re\nKW = re.compile(r'\\b(great|excellent|love|superb)\\b', re.I)\n"
    "def label_function(text):\n    if KW.search(text):\n        return 1\n"
    "    if 'bad' in text.lower() or 'awful' in text:\n        return 0\n    return -1\n",
    "def label_function(text):\n    t = text.lower()\n    for w in ['terrible', 'worst', 'refund', 'broken']:\n"
    "        if w in t:\n            return 0\n    return -1\n",
    "def label_function(text):\n    return 1 if text.count('!') >= 2 else -1\n",
    "def label_function(text):\n    return 0 if len(text) < 25 else -1\n",
    "import re\nNUM = re.compile(r'\\d+ stars?')\n"
    "def label_function(text):\n    m = NUM.search(text)\n    if not m:\n        return -1\n"
    "    return 1 if int(m.group(0).split()[0]) >= 4 else 0\n",
    "def label_function(text):\n    words = text.split()\n    caps = sum(1 for w in words if w.isupper() and len(w) > 1)\n"
    "    return 1 if caps >= 2 else -1\n",
    "POS = {'love', 'great', 'amazing', 'recommend'}\nNEG = {'hate', 'boring', 'waste'}\n"
    "def label_function(text):\n    ws = set(text.lower().split())\n    p, n = len(ws & POS), len(ws & NEG)\n"
    "    if p > n:\n        return 1\n    if n > p:\n        return 0\n    return -1\n",
    "def label_function(text):\n    return 0 if text.strip().endswith('?') else -1\n",
    "import re\nURL = re.compile(r'https?://\\S+')\n"
    "def label_function(text):\n    return 0 if URL.search(text) else -1\n",
    "def label_function(text):\n    t = text.lower()\n    return 1 if t.startswith('best') or 'would buy again' in t else -1\n",
]
WORDS = (
    "the a this movie product was great excellent bad awful terrible love hate boring waste "
    "amazing recommend would buy again refund broken worst superb 5 stars 2 stars BEST OK "
    "really very not at all http://x.io/p !"
).split()


def make_texts(n: int, seed: int = 0) -> pa.Array:
    rng = random.Random(seed)
    return pa.array([" ".join(rng.choices(WORDS, k=rng.randint(3, 10))) for _ in range(n)], pa.string())


def in_process(texts: pa.Array) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    rows = texts.to_pylist()
    out = np.full((len(rows), len(PROGRAMS)), -1, np.int8)
    for j, src in enumerate(PROGRAMS):
        ns: dict[str, Any] = {}
        exec(compile(src, f"<bench {j}>", "exec"), ns)
        fn = ns["label_function"]
        out[:, j] = [fn(t) for t in rows]
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--runners", nargs="*", default=None, help="default: every available runner")
    ap.add_argument("--batch-size", type=int, default=65536)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    names = args.runners or available_runners()
    specs = [LabelerSpec(f"lf{j}", "bench", src) for j, src in enumerate(PROGRAMS)]
    print(f"{len(PROGRAMS)} labelers, batch {args.batch_size}, {args.workers} workers; runners: {', '.join(names)}")
    print()
    print("| runner | worker start-up, median of 5 cold starts (s) | min-max |")
    print("|---|---:|---:|")
    for name in names:
        # prewarm=0: a fresh sandbox every time; stream_below=0: the shared-file path.
        runner = get_runner(name, workers=1, prewarm=0, stream_below=0)
        starts = []
        for _ in range(5):
            res = runner.apply(specs[:1], make_texts(10), cardinality=2, lower=False)
            starts.append(res.startup_seconds)
        starts.sort()
        print(f"| {name} | {starts[2]:.2f} | {starts[0]:.2f}-{starts[-1]:.2f} |", flush=True)
    print()
    print("| rows | runner | wall s | vs in-process | start-up s | rows/s |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.rows:
        texts = make_texts(n)
        ref, base = in_process(texts)
        print(f"| {n:,} | in-process (plain Python, 1 core) | {base:.2f} | 1.00x | - | {n / base:,.0f} |", flush=True)
        for name in names:
            runner = get_runner(name, workers=args.workers)
            res = runner.apply(specs, texts, cardinality=2, batch_size=args.batch_size, lower=False)
            if res.faults or not np.array_equal(res.matrix, ref):
                raise SystemExit(f"{name}: result differs from in-process ({res.faults})")
            print(
                f"| {n:,} | {name} | {res.seconds:.2f} | {res.seconds / base:.2f}x | "
                f"{res.startup_seconds:.2f} | {n / res.seconds:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

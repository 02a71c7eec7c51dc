"""Apply benchmark: 20 LLM-style labelers over youtube- and imdb-style texts.

Rows per second for Snorkel's PandasLFApplier (timed on a prefix and scaled: it is
linear), a plain Python loop, and our apply through a sandbox runner (docker by
default, start-up included) with and without lowering; the share of labelers lowered;
the time of a repeated apply served by the label-matrix cache. Every method's matrix
must be identical (Snorkel's and, when scaled, the loop's on their prefix).

    .venv/bin/python bench/bench_apply.py --rows 100000 1000000 --style youtube imdb

Prints a table (and ``--json`` a JSON list); see docs/benchmarks.md, "Apply benchmark".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alchemist_engine.engine.apply import apply_labelers  # noqa: E402
from alchemist_engine.labelers import LabelerSpec, get_task  # noqa: E402
from alchemist_engine.sandbox import get_runner  # noqa: E402
from alchemist_engine.store.cache import ArtifactCache  # noqa: E402
from datagen import make_texts  # noqa: E402


def load_labelers() -> list[LabelerSpec]:
    return [
        LabelerSpec(id=p.stem, task="youtube", source=p.read_text())
        for p in sorted((HERE / "labelers").glob("lf*.py"))
    ]


def functions(specs: list[LabelerSpec]) -> list[Any]:
    fns = []
    for s in specs:
        ns: dict[str, Any] = {}
        exec(compile(s.source, s.id, "exec"), ns)  # our own benchmark fixtures
        fns.append(ns["label_function"])
    return fns


def dataset(rows: int, style: str, seed: int = 0) -> list[str]:
    # Distinct texts are generated, then sampled: generating a million in Python
    # would take longer than the benchmark itself.
    pool = make_texts(min(rows, 50_000), style, seed)
    idx = np.random.default_rng(seed + 1).integers(0, len(pool), rows)
    return [pool[i] for i in idx]


def plain_loop(fns: list[Any], texts: list[str]) -> np.ndarray:
    out = np.empty((len(texts), len(fns)), np.int8)
    for j, fn in enumerate(fns):
        out[:, j] = [fn(t) for t in texts]
    return out


def snorkel_apply(fns: list[Any], names: list[str], texts: list[str]) -> np.ndarray:
    import pandas as pd
    from snorkel.labeling import LabelingFunction, PandasLFApplier

    lfs = [LabelingFunction(name=n, f=lambda x, fn=fn: fn(x.text)) for n, fn in zip(names, fns, strict=True)]
    return np.asarray(PandasLFApplier(lfs).apply(pd.DataFrame({"text": texts}), progress_bar=False), np.int8)


def bench(rows: int, style: str, runner_name: str, snorkel_rows: int, loop_rows: int | None) -> dict[str, Any]:
    specs = load_labelers()
    fns = functions(specs)
    task = get_task("youtube")
    texts = dataset(rows, style)
    table = pa.table({"text": pa.array(texts, pa.large_string())})
    res: dict[str, Any] = {"style": style, "rows": rows, "labelers": len(specs)}
    res["mean_chars"] = round(float(np.mean([len(t) for t in texts[:10000]])), 1)

    n_loop = rows if loop_rows is None else min(rows, loop_rows)
    t0 = time.perf_counter()
    L_loop = plain_loop(fns, texts[:n_loop])
    res["loop_s"] = (time.perf_counter() - t0) * rows / n_loop
    res["loop_scaled_from"] = n_loop

    n_sn = min(rows, snorkel_rows)
    t0 = time.perf_counter()
    L_sn = snorkel_apply(fns, [s.id for s in specs], texts[:n_sn])
    res["snorkel_s"] = (time.perf_counter() - t0) * rows / n_sn
    res["snorkel_scaled_from"] = n_sn

    runner = get_runner(runner_name)
    res["runner"] = runner.name
    apply_labelers(specs, table.slice(0, 100), task=task, runner=runner, lower=True)  # kernels built
    reports = {}
    for lower in (True, False):
        t0 = time.perf_counter()
        rep = apply_labelers(specs, table, task=task, runner=runner, lower=lower)
        res[f"ours_{'lowered' if lower else 'interpreted'}_s"] = time.perf_counter() - t0
        reports[lower] = rep
    res["lowered"] = f"{len(reports[True].lowered)}/{len(specs)}"

    with tempfile.TemporaryDirectory() as tmp:
        cache = ArtifactCache(Path(tmp))
        apply_labelers(specs, table, task=task, runner=runner, lower=True, cache=cache)
        t0 = time.perf_counter()
        again = apply_labelers(specs, table, task=task, runner=runner, lower=True, cache=cache)
        res["cached_s"] = time.perf_counter() - t0
        res["cache_hits"] = again.cache_hits

    L_low, L_int = reports[True].matrix, reports[False].matrix
    res["identical"] = bool(
        np.array_equal(L_low, L_int)
        and np.array_equal(L_low[:n_loop], L_loop)
        and np.array_equal(L_low[:n_sn], L_sn)
        and np.array_equal(L_low, again.matrix)
    )
    for key in ("loop", "snorkel", "ours_lowered", "ours_interpreted", "cached"):
        res[f"{key}_rows_per_s"] = rows / res[f"{key}_s"]
    res["x_snorkel"] = res["snorkel_s"] / res["ours_lowered_s"]
    res["x_loop"] = res["loop_s"] / res["ours_lowered_s"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--style", nargs="+", default=["youtube", "imdb"], choices=["youtube", "imdb"])
    ap.add_argument("--runner", default="docker")
    ap.add_argument("--snorkel-rows", type=int, default=10_000)
    ap.add_argument("--loop-rows", type=int, default=None, help="time the plain loop on a prefix and scale")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    for style in args.style:
        for rows in args.rows:
            r = bench(rows, style, args.runner, args.snorkel_rows, args.loop_rows)
            results.append(r)
            assert r["identical"], f"matrices differ for {style} x {rows}"
            print(json.dumps(r) if args.json else "", flush=True) if args.json else None
    load = os.getloadavg()
    hdr = ("style", "rows", "chars", "snorkel r/s", "loop r/s", "ours interp r/s", "ours lowered r/s",
           "lowered", "x snorkel", "x loop", "cached s", "identical")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in results:
        print(
            f"| {r['style']} | {r['rows']:,} | {r['mean_chars']:.0f} | {r['snorkel_rows_per_s']:,.0f} | "
            f"{r['loop_rows_per_s']:,.0f} | {r['ours_interpreted_rows_per_s']:,.0f} | "
            f"{r['ours_lowered_rows_per_s']:,.0f} | {r['lowered']} | {r['x_snorkel']:.0f}x | "
            f"{r['x_loop']:.1f}x | {r['cached_s']:.2f} | {r['identical']} |"
        )
    print(f"runner {results[0]['runner'] if results else '-'}; load average at the end {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

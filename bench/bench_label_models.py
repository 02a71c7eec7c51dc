"""Label-model fit/predict time and peak memory vs snorkel; end-model distillation time.

Every measurement runs in a fresh subprocess so its peak RSS (``VmHWM``) is its own:
the figure includes the interpreter and imports, as a user would see it. Our numba
kernels are compiled (or loaded from numba's on-disk cache) on a 100-row matrix
before timing; that one-off cost is reported as ``warmup s``.

Data: synthetic one-coin votes, ``n x m`` int8, each labeler votes on 30% of rows
with an accuracy drawn from U(0.55, 0.9); accuracy is measured against the truth.

    python bench/bench_label_models.py                       # 100k and 1M x 20, k=2 and 5
    python bench/bench_label_models.py --sizes 100000 --k 2  # quicker
    python bench/bench_label_models.py --device cuda         # snorkel-lib and MLP on GPU

Prints a markdown table (paste into docs/benchmarks.md, "Label models").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

OURS = ["mv", "wmv", "fs", "snorkel", "ds"]
REFERENCE = ["snorkel-lib", "snorkel-MajorityLabelVoter"]


def make_votes(n: int, m: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n).astype(np.int8)
    L = np.empty((n, m), dtype=np.int8)
    for j in range(m):
        acc = rng.uniform(0.55, 0.9)
        wrong = ((y + rng.integers(1, k, n)) % k).astype(np.int8)
        col = np.where(rng.random(n) < acc, y, wrong)
        L[:, j] = np.where(rng.random(n) < 0.3, col, -1)
    return L, y


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    """One measurement; prints one JSON line."""
    out: dict[str, Any] = {"model": args.child, "device": args.device}
    if args.child == "distill":
        import torch
        from alchemist_engine.engine.distill import train_end_model

        rng = np.random.default_rng(0)
        X = rng.normal(size=(args.rows, 384)).astype(np.float32)
        P = rng.dirichlet(np.ones(2), size=args.rows).astype(np.float32)
        t = time.perf_counter()
        model = train_end_model(X, P, kind="mlp", device=args.device, epochs=args.epochs)
        if model.device.startswith("cuda"):
            torch.cuda.synchronize()
        out.update(fit=time.perf_counter() - t, n=args.rows, device=model.device)
        t = time.perf_counter()
        model.predict_proba(X)
        out.update(predict=time.perf_counter() - t, peak_rss_mb=peak_rss_mb())
        print(json.dumps(out))
        return
    L = np.load(args.L)
    y = np.load(args.y)
    k = args.k
    out["n"], out["m"], out["k"] = len(L), L.shape[1], k
    if args.child == "snorkel-lib":
        from alchemist_engine.engine.aggregate import resolve_device
        from snorkel.labeling.model import LabelModel

        device = resolve_device(args.device)
        out["device"] = device
        t = time.perf_counter()
        lm = LabelModel(cardinality=k, device=device, verbose=False)
        lm.fit(L, n_epochs=args.epochs, lr=0.01, seed=0, progress_bar=False)
        out["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        probs = lm.predict_proba(L)
        out["predict"] = time.perf_counter() - t
    elif args.child == "snorkel-MajorityLabelVoter":
        from snorkel.labeling.model import MajorityLabelVoter

        t = time.perf_counter()
        mlv = MajorityLabelVoter(cardinality=k)
        out["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        probs = mlv.predict_proba(L)
        out["predict"] = time.perf_counter() - t
    else:
        from alchemist_engine.engine.aggregate import get_label_model

        t = time.perf_counter()
        small, _ = make_votes(100, L.shape[1], k, seed=1)
        opts = {"n_epochs": args.epochs} if args.child == "snorkel" else {}
        get_label_model(args.child, k, **opts).fit(small).predict_proba(small)
        out["warmup"] = time.perf_counter() - t
        out["device"] = "cpu"
        t = time.perf_counter()
        label_model = get_label_model(args.child, k, seed=0, **opts).fit(L)
        out["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        probs = label_model.predict_proba(L)
        out["predict"] = time.perf_counter() - t
    out["accuracy"] = float(np.mean(np.asarray(probs).argmax(axis=1) == y))
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def run_child(argv: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *argv]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f}s"}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return dict(json.loads(lines[-1]))


def fmt(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    ap.add_argument("--m", type=int, default=20, help="labelers")
    ap.add_argument("--k", default="2,5", help="comma-separated class counts")
    ap.add_argument("--models", default=",".join(OURS + REFERENCE))
    ap.add_argument("--epochs", type=int, default=500, help="snorkel epochs (ours and the package)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto (snorkel-lib, distill)")
    ap.add_argument("--distill-rows", type=int, default=100000, help="0 to skip distillation")
    ap.add_argument("--distill-epochs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--L", help=argparse.SUPPRESS)
    ap.add_argument("--y", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.k = int(args.k)
        child(args)
        return

    models = args.models.split(",")
    results: list[dict[str, Any]] = []
    print(f"<!-- {platform.node()} {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} -->")
    print("| n | m | k | model | device | warmup s | fit s | predict_proba s | peak RSS MB | accuracy |"
          " speed-up vs snorkel-lib | RSS vs snorkel-lib |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            for k in [int(s) for s in args.k.split(",")]:
                L, y = make_votes(n, args.m, k)
                lp, yp = Path(tmp) / "L.npy", Path(tmp) / "y.npy"
                np.save(lp, L)
                np.save(yp, y)
                rows = []
                for model in models:
                    r = run_child(["--child", model, "--L", str(lp), "--y", str(yp), "--k", str(k),
                                   "--epochs", str(args.epochs), "--device", args.device], args.timeout)
                    r.update(model=model, n=n, m=args.m, k=k)
                    rows.append(r)
                ref = next((r for r in rows if r["model"] == "snorkel-lib" and "fit" in r), None)
                for r in rows:
                    if "error" in r:
                        print(f"| {n:,} | {args.m} | {k} | {r['model']} | | | error: {r['error']} | | | | | |")
                        continue
                    speed = rss = None
                    if ref is not None:
                        speed = (ref["fit"] + ref["predict"]) / (r["fit"] + r["predict"])
                        rss = r["peak_rss_mb"] / ref["peak_rss_mb"]
                    print(f"| {n:,} | {args.m} | {k} | {r['model']} | {r.get('device', '')} | "
                          f"{fmt(r.get('warmup'), 2)} | {fmt(r['fit'])} | {fmt(r['predict'])} | "
                          f"{fmt(r['peak_rss_mb'], 0)} | {fmt(r['accuracy'], 4)} | "
                          f"{fmt(speed, 1)}{'x' if speed else ''} | {fmt(rss, 2)} |", flush=True)
                results.extend(rows)
        if args.distill_rows:
            r = run_child(["--child", "distill", "--rows", str(args.distill_rows), "--k", "2",
                           "--epochs", str(args.distill_epochs), "--device", args.device], args.timeout)
            results.append(r)
            print()
            print("| distillation | rows | features | epochs | device | train s | s/epoch | predict s | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|---|")
            if "error" in r:
                print(f"| MLP 2x32 | {args.distill_rows:,} | 384 | {args.distill_epochs} | | error: {r['error']} | | | |")
            else:
                print(f"| MLP 2x32 | {args.distill_rows:,} | 384 | {args.distill_epochs} | {r['device']} | "
                      f"{r['fit']:.2f} | {r['fit'] / args.distill_epochs:.2f} | {r['predict']:.3f} | "
                      f"{r['peak_rss_mb']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

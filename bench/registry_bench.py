"""Registry and cache speed: commit, list, diff, import, fsck, cache put/get.

Run: .venv/bin/python bench/registry_bench.py [--labelers 1000]
Prints a table (median of repeats, wall time). Timings are noisy on shared machines.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

from alchemist_engine.engine.transfer import import_programs
from alchemist_engine.labelers import LabelerSpec
from alchemist_engine.store import ArtifactCache, LabelerRegistry


def program(i: int, variant: str = "") -> str:
    return (
        "def label_function(text):\n"
        f"    keywords = ['kw{i}{variant}', 'other{i}', 'third{i}']\n"
        "    t = text.lower()\n"
        "    return 1 if any(k in t for k in keywords) else -1\n"
    )


from timing import timed  # noqa: E402  (bench/ is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labelers", type=int, default=1000)
    n = ap.parse_args().labelers
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reg = LabelerRegistry.open(root / "registry")
        meta = {"mode": "scriptorium", "model": "gpt-4o", "cost_usd": 0.001, "prompt": "x" * 2000}
        counter = iter(range(10**9))

        def commit_batch(k: int) -> None:
            specs = []
            for _ in range(k):
                i = next(counter)
                specs.append(LabelerSpec(f"youtube-kw-{i:06d}", "youtube", program(i), dict(meta)))
            reg.commit(specs, f"batch of {k}")

        for k in (1, 10, 100):
            t = timed(functools.partial(commit_batch, k))
            rows.append((f"commit {k} labeler(s)", f"{t * 1000:.0f} ms"))
        while len(reg.labelers()) < n:
            commit_batch(min(500, n - len(reg.labelers())))
        head = reg.resolve()
        rows.append((f"labelers() at HEAD, {n} stored, cold",
                     f"{timed(lambda: LabelerRegistry.open(reg.path).labelers()) * 1000:.0f} ms"))
        rows.append((f"labelers() at HEAD, {n} stored, warm",
                     f"{timed(lambda: reg.labelers()) * 1000:.1f} ms"))
        changed = [LabelerSpec(s.id, s.task, program(j, "v2"), s.metadata)
                   for j, s in enumerate(reg.labelers()[:100])]
        reg.commit(changed, "change 100")
        rows.append((f"diff, {n} labelers, 100 changed (fresh open)",
                     f"{timed(lambda: LabelerRegistry.open(reg.path).diff(head)) * 1000:.0f} ms"))
        rows.append(("log (all commits)", f"{timed(lambda: reg.log()) * 1000:.0f} ms"))
        rows.append((f"fsck, {n} labelers", f"{timed(lambda: reg.fsck(), 1) * 1000:.0f} ms"))
        folder = root / "alchemist"
        folder.mkdir()
        for i in range(100):
            (folder / f"LF{i + 1}.py").write_text(
                "'''\nprompt\n'''\n# Total cost for this inference call: $[0.0010].\n\n"
                + program(10**6 + i))
        t = time.perf_counter()
        import_programs(reg, [folder], "youtube")
        rows.append(("import 100 ALCHEmist files (validate + commit)",
                     f"{(time.perf_counter() - t) * 1000:.0f} ms"))
        cache = ArtifactCache(root / "cache")
        blob = bytes(range(256)) * (40 * 1024)  # 10 MiB
        rows.append(("cache put 10 MiB (new)", f"{timed(lambda: cache.put(blob + b'x'), 1) * 1000:.0f} ms"))
        digest = cache.put(blob)
        rows.append(("cache get 10 MiB (verified)", f"{timed(lambda: cache.get(digest)) * 1000:.0f} ms"))
    width = max(len(a) for a, _ in rows)
    print(f"{'operation':<{width}}  time")
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()

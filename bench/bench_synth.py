"""Synthesis overheads: extraction + dedupe, a replayed run, SDK round trips.

    .venv/bin/python bench/bench_synth.py [--runner subprocess] [--calls 30]

Prints a table: our machinery's cost per program, excluding the model's own latency
(replay and the loopback fake server answer at once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from alchemist_engine.engine.extract import extract_programs, normalized_hash  # noqa: E402
from alchemist_engine.engine.providers import (  # noqa: E402
    AnthropicProvider,
    OpenAIProvider,
    ReplayProvider,
)
from alchemist_engine.engine.synth import synthesize, write_recordings  # noqa: E402
from alchemist_engine.labelers import get_task  # noqa: E402
from alchemist_engine.sandbox import get_runner  # noqa: E402
from alchemist_engine.store import LabelerRegistry  # noqa: E402
from fakeserver import FakeLLMServer, default_reply  # noqa: E402

REPLIES = ROOT / "engine" / "assets" / "recordings" / "youtube_demo"


from timing import timed  # noqa: E402  (bench/ is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", default="subprocess")
    ap.add_argument("--calls", type=int, default=30)
    args = ap.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench")
    task = get_task("youtube")
    replies = [p.read_text() for p in sorted(REPLIES.glob("reply_*.md"))]
    rows: list[tuple[str, str]] = []

    many = [default_reply(i, {}) for i in range(1000)]
    t = timed(lambda: [normalized_hash(p) for r in many for p in extract_programs(r)])
    rows.append(("extract + normalized hash, 1000 replies", f"{t * 1e3:.0f} ms ({t:.2f} ms/reply)"))

    runner = get_runner(args.runner)
    with tempfile.TemporaryDirectory() as d:
        rec = write_recordings(Path(d) / "rec.json", task, replies, model="gpt-3.5-turbo")
        sample = [f"comment {i} subscribe http://x.co" for i in range(200)]

        def run() -> None:
            reg = LabelerRegistry.open(Path(tempfile.mkdtemp(dir=d)) / "r", create=True)
            synthesize(task, provider=ReplayProvider(rec), model="gpt-3.5-turbo", n=len(replies),
                       sample_texts=sample, runner=runner, registry=reg)

        t = timed(run)
        rows.append((f"replayed synth run, {len(replies)} replies, dry runs via {runner.name}, 1 commit",
                     f"{t:.2f} s ({t / len(replies) * 1e3:.0f} ms/program)"))

    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "write a labeler"}]
    with FakeLLMServer() as srv:
        for name, prov in (("openai", OpenAIProvider(base_url=srv.base_url + "/v1")),
                           ("anthropic", AnthropicProvider(base_url=srv.base_url))):
            prov.complete(msgs, model="gpt-3.5-turbo", temperature=0.5, max_tokens=100, seed=0)
            t = timed(lambda p=prov: [p.complete(msgs, model="gpt-3.5-turbo", temperature=0.5,
                                                 max_tokens=100, seed=i) for i in range(args.calls)])
            rows.append((f"{name} SDK round trip to loopback fake server",
                         f"{t / args.calls * 1e3:.1f} ms/call"))

    width = max(len(a) for a, _ in rows)
    print(f"| {'what':<{width}} | time |\n|{'-' * (width + 2)}|------|")
    for a, b in rows:
        print(f"| {a:<{width}} | {b} |")


if __name__ == "__main__":
    main()

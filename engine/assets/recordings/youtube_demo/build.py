"""Rebuild ../youtube_demo.json from the hand-written replies in this folder.

Run: .venv/bin/python engine/assets/recordings/youtube_demo/build.py

Keys are the exact prompts the demo sends (engine.synth.plan_prompts, ScriptoriumWS mode,
model gpt-3.5-turbo, one call per reply); token usage follows the documented estimate of
engine.synth.write_recordings (ceil(chars / 4) per message plus framing), since these
replies never went through a real API.
"""

from __future__ import annotations

from pathlib import Path

from alchemist_engine.engine.demo import DEMO_MODEL, DEMO_RECORDINGS
from alchemist_engine.engine.synth import write_recordings
from alchemist_engine.labelers import get_task

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    replies = [p.read_text(encoding="utf-8") for p in sorted(HERE.glob("reply_*.md"))]
    write_recordings(DEMO_RECORDINGS, get_task("youtube"), replies, model=DEMO_MODEL)
    print(f"wrote {DEMO_RECORDINGS} ({len(replies)} replies)")

"""synthesize / refine end to end: real registry (git), real sandbox runner, real SDKs
against the fake server or the replay provider."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alchemist_engine.engine.cost import Budget, PriceTable  # noqa: E402
from alchemist_engine.engine.providers import OpenAIProvider, ReplayProvider  # noqa: E402
from alchemist_engine.engine.synth import (  # noqa: E402
    plan_prompts,
    refine,
    synthesize,
    write_recordings,
)
from alchemist_engine.labelers import LabelerSpec, TaskError, get_task  # noqa: E402
from alchemist_engine.sandbox import get_runner  # noqa: E402
from alchemist_engine.store import LabelerRegistry  # noqa: E402
from fakeserver import FakeLLMServer, program_for  # noqa: E402

TASK = get_task("youtube")
SAMPLE = ["Subscribe to my channel!", "great song", "check out http://x.com", "why?", ""] * 4


def fenced(src: str) -> str:
    return f"Here you go:\n```python\n{src}```\n"


GOOD = [program_for(i) for i in range(4)]
REPLIES = [
    fenced(GOOD[0]),
    fenced("import os\n\ndef label_function(text):\n    return -1\n"),
    "Spam usually mentions channels; I would not write code for that.",
    fenced(GOOD[1]),
    fenced(GOOD[0].replace("t = text.lower()", "s = text.lower()").replace("in t", "in s")),
    fenced('def label_function(text):\n    if "?" in text:\n        return "ham"\n    return -1\n'),
    fenced("def label_function(text)\n    return -1\n"),
    fenced(GOOD[2]),
]


@pytest.fixture(scope="module")
def runner():  # type: ignore[no-untyped-def]
    return get_runner("subprocess")


@pytest.fixture()
def registry(tmp_path: Path) -> LabelerRegistry:
    return LabelerRegistry.open(tmp_path / "registry", create=True)


def _replay(tmp_path: Path, replies: list[str] = REPLIES, **kw: object) -> ReplayProvider:
    path = write_recordings(tmp_path / "rec.json", TASK, replies, model="gpt-3.5-turbo", **kw)  # type: ignore[arg-type]
    return ReplayProvider(path)


def test_scriptorium_replay_accepts_rejects_with_reasons_and_commits_once(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    res = synthesize(TASK, provider=_replay(tmp_path), model="gpt-3.5-turbo", n=len(REPLIES),
                     sample_texts=SAMPLE, runner=runner, registry=registry)
    assert [lf.metadata["sample"] for lf in res.accepted] == [0, 3, 7]
    stages = {r.sample: r.stage for r in res.rejected}
    assert stages == {1: "validate", 2: "reply", 4: "duplicate", 5: "dry_run", 6: "validate"}
    reasons = {r.sample: r.reason for r in res.rejected}
    assert "os" in reasons[1] and "syntax" in reasons[6].lower()
    assert res.accepted[0].id in reasons[4]
    # one commit, holding exactly the accepted programs
    log = registry.log()
    assert len(log) >= 1 and res.commit is not None
    stored = registry.labelers(task="youtube")
    assert sorted(lf.id for lf in stored) == sorted(lf.id for lf in res.accepted)
    msg = json.dumps([c.to_dict() for c in log])
    assert "scriptorium" in msg and "3 accepted, 5 rejected" in msg
    # cost = usage x price table, per labeler and per run
    table = PriceTable.load()
    md = stored[0].metadata
    assert md["cost_usd"] == pytest.approx(table.cost("gpt-3.5-turbo", md["input_tokens"], md["output_tokens"]))
    assert res.cost_usd == pytest.approx(table.cost("gpt-3.5-turbo", res.input_tokens, res.output_tokens))
    for key in ("task", "mode", "prompt", "template_id", "provider", "model", "input_tokens",
                "created", "validation", "parent", "passages", "prior_kind"):
        assert key in md
    assert md["template_id"] == "scriptorium.v1" and md["parent"] is None


def test_replay_is_deterministic(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    provider = _replay(tmp_path)
    runs = []
    for name in ("a", "b"):
        reg = LabelerRegistry.open(tmp_path / name, create=True)
        res = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                         sample_texts=SAMPLE, runner=runner, registry=reg)
        # the sandbox's dry-run reasons carry wall time ("0.4 s"): not part of the result
        rejected = re.sub(r"\d+\.\d+ s\b", "T s", json.dumps(res.to_dict()["rejected"]))
        runs.append(([(lf.id, lf.source) for lf in res.accepted], rejected,
                     res.input_tokens, res.output_tokens))
    assert runs[0] == runs[1]


def test_rerun_dedupes_against_the_registry(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    provider = _replay(tmp_path)
    synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
               sample_texts=SAMPLE, runner=runner, registry=registry)
    again = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                       sample_texts=SAMPLE, runner=runner, registry=registry)
    assert again.accepted == [] and again.commit is None
    assert sum(r.stage == "duplicate" for r in again.rejected) == 4


def test_alchemist_all_priors_cycle_and_prior_model_differs(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    with FakeLLMServer() as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        res = synthesize(TASK, provider=prov, model="gpt-4o-mini", prior_model="gpt-4o",
                         mode="alchemist", prior="all", n=5, sample_texts=SAMPLE, runner=runner,
                         registry=registry)
        reqs = srv.requests
    models = [r["body"]["model"] for r in reqs]
    assert models.count("gpt-4o") == 4 and models.count("gpt-4o-mini") == 5
    kinds = [lf.metadata["prior_kind"] for lf in res.accepted]
    assert set(kinds) <= {"heuristics", "keywords", "description", "examples"} and len(set(kinds)) >= 3
    code_prompt = res.accepted[0].metadata["prompt"][1]["content"]
    assert "Prior knowledge about this task" in code_prompt and "subscribe" in code_prompt
    assert res.accepted[0].metadata["prior"]["model"] == "gpt-4o"
    # prior calls are priced at the prior model's rates, code calls at the code model's
    table = PriceTable.load()
    for lf in res.accepted:
        md = lf.metadata
        assert md["cost_usd"] == pytest.approx(table.cost("gpt-4o-mini", md["input_tokens"], md["output_tokens"]))
    assert res.cost_usd > table.cost("gpt-4o-mini", res.input_tokens, res.output_tokens)  # type: ignore[operator]
    assert res.cost_usd < table.cost("gpt-4o", res.input_tokens, res.output_tokens)  # type: ignore[operator]


def test_failure_mid_run_commits_what_was_received_and_rerun_continues(tmp_path: Path, registry, runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    state = tmp_path / "state"
    with FakeLLMServer(script=["ok", "ok"], default="500") as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None, attempts=2)
        first = synthesize(TASK, provider=prov, model="gpt-3.5-turbo", n=5, sample_texts=SAMPLE,
                           runner=runner, registry=registry, state_dir=state)
    assert first.error is not None and "gave up after 2 attempts" in first.error
    assert len(first.accepted) == 2 and first.commit is not None
    assert len(registry.labelers(task="youtube")) == 2
    assert list(state.iterdir())  # progress saved
    with FakeLLMServer(replier=lambda i, req: fenced(program_for(i + 6))) as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        second = synthesize(TASK, provider=prov, model="gpt-3.5-turbo", n=5, sample_texts=SAMPLE,
                            runner=runner, registry=registry, state_dir=state)
        assert len(srv.requests) == 3  # only the samples not done before
    assert second.resumed == 2 and second.error is None
    assert [lf.metadata["sample"] for lf in second.accepted] == [2, 3, 4]
    assert len(registry.labelers(task="youtube")) == 5
    assert not list(state.iterdir())


def test_budget_is_never_exceeded(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    provider = _replay(tmp_path)
    full = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                      sample_texts=SAMPLE, runner=runner, registry=None, max_tokens=200)
    first = plan_prompts(TASK, model="gpt-3.5-turbo", n=1)[0]
    worst = Budget(None, PriceTable.load()).check("gpt-3.5-turbo", first.messages, 200)
    limit = worst + full.cost_usd / 2  # the guard is a worst-case bound: room for about half
    res = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                     sample_texts=SAMPLE, runner=runner, registry=registry, budget_usd=limit,
                     max_tokens=200)
    assert res.stopped == "budget" and res.error is None
    assert 0 < res.calls < len(REPLIES) and res.cost_usd <= limit
    assert len(registry.labelers(task="youtube")) == len(res.accepted) >= 1


def test_plan_prompts_shapes_and_errors() -> None:
    calls = plan_prompts(TASK, mode="scriptorium", model="m", n=3)
    assert [(c.kind, c.seed, c.template_id) for c in calls] == [("code", i, "scriptorium.v1") for i in range(3)]
    assert len({c.messages[1]["content"] for c in calls}) == 3  # diversity hints differ
    calls = plan_prompts(TASK, mode="alchemist", prior="all", model="m", n=5, mission="Find spam.")
    assert [c.kind for c in calls].count("prior") == 4
    assert all(c.messages[1]["content"].startswith("Find spam.") for c in calls)
    q = plan_prompts(TASK, mode="alchemist", prior="keywords", prior_query="List emoji.", model="m", n=1)
    assert "List emoji." in q[0].messages[1]["content"]
    with pytest.raises(TaskError, match="needs documents"):
        plan_prompts(TASK, mode="alchemist-rag", model="m", n=1)
    with pytest.raises(TaskError, match="unknown mode"):
        plan_prompts(TASK, mode="magic", model="m", n=1)
    with pytest.raises(TaskError, match="need --mode alchemist"):
        plan_prompts(TASK, mode="scriptorium", prior="keywords", model="m", n=1)


def test_alchemist_replay_recordings_with_priors(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    priors = {"heuristics": "Spam asks you to subscribe."}
    provider = _replay(tmp_path, [fenced(GOOD[0]), fenced(GOOD[1])], mode="alchemist",
                       prior="heuristics", prior_replies=priors)
    res = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", mode="alchemist",
                     prior="heuristics", n=2, sample_texts=SAMPLE, runner=runner, registry=registry)
    assert len(res.accepted) == 2 and res.calls == 3
    assert res.accepted[1].metadata["prior"]["text"] == priors["heuristics"]


def test_refine_commits_a_child_with_parent_and_dev_scores(tmp_path: Path, registry, runner) -> None:  # type: ignore[no-untyped-def]
    parent = LabelerSpec(id="youtube-song-000001", task="youtube",
                         source="def label_function(text):\n    return 1 if 'song' in text.lower() else -1\n")
    registry.commit([parent], "seed")
    dev_texts = ["nice song", "subscribe to me", "song of the year", "my channel pls", "lol"]
    dev_labels = [0, 1, 0, 1, 0]
    better = ("def label_function(text):\n    t = text.lower()\n"
              "    if 'subscribe' in t or 'channel' in t:\n        return 1\n"
              "    if 'song' in t:\n        return 0\n    return -1\n")
    with FakeLLMServer(replier=lambda i, req: fenced(better)) as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        res = refine(TASK, parent, dev_texts, dev_labels, provider=prov, model="gpt-4o",
                     runner=runner, registry=registry)
        prompt = srv.requests[0]["body"]["messages"][1]["content"]
    assert "votes on 40.0% of the rows and is right on 0.0%" in prompt and "nice song" in prompt
    (child,) = res.accepted
    assert child.metadata["parent"] == parent.id and child.metadata["mode"] == "refine"
    assert child.metadata["dev_before"]["accuracy"] == 0.0
    assert child.metadata["dev_after"]["accuracy"] == 1.0 and child.metadata["dev_after"]["coverage"] == 0.8
    assert {lf.id for lf in registry.labelers(task="youtube")} == {parent.id, child.id}


def test_concurrent_calls_give_the_same_run_as_sequential(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    provider = _replay(tmp_path)
    runs = []
    for conc in (1, 4):
        reg = LabelerRegistry.open(tmp_path / f"c{conc}", create=True)
        res = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                         sample_texts=SAMPLE, runner=runner, registry=reg, concurrency=conc)
        runs.append(([(lf.id, lf.metadata["sample"]) for lf in res.accepted],
                     [(r.sample, r.stage) for r in res.rejected], res.cost_usd))
    assert runs[0] == runs[1]


def test_concurrent_calls_reserve_budget_for_calls_in_flight(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    provider = _replay(tmp_path)
    first = plan_prompts(TASK, model="gpt-3.5-turbo", n=1)[0]
    worst = Budget(None, PriceTable.load()).check("gpt-3.5-turbo", first.messages, 200)
    limit = worst * 2.5  # two calls' worst cases fit at once, a third does not
    res = synthesize(TASK, provider=provider, model="gpt-3.5-turbo", n=len(REPLIES),
                     sample_texts=SAMPLE, runner=runner, registry=None, budget_usd=limit,
                     max_tokens=200, concurrency=8)
    assert res.stopped == "budget" and res.calls == 2 and res.cost_usd <= limit


def test_budget_counts_the_worst_case_when_the_server_reports_no_usage(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    first = plan_prompts(TASK, model="gpt-3.5-turbo", n=1)[0]
    worst = Budget(None, PriceTable.load()).check("gpt-3.5-turbo", first.messages, 200)
    with FakeLLMServer(default="nousage") as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        res = synthesize(TASK, provider=prov, model="gpt-3.5-turbo", n=6, sample_texts=SAMPLE,
                         runner=runner, registry=None, budget_usd=worst * 2.5, max_tokens=200)
    assert res.stopped == "budget" and res.calls == 2  # real usage unknown: 2 worst cases fit
    assert all(lf.metadata["usage_estimated"] for lf in res.accepted)

"""The real openai and anthropic SDKs against the loopback fake server; replay and record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alchemist_engine.engine.providers import (  # noqa: E402
    AnthropicProvider,
    OpenAIProvider,
    RecordProvider,
    ReplayProvider,
    get_provider,
    recording_key,
)
from alchemist_engine.labelers import MissingRecording, ProviderError  # noqa: E402
from fakeserver import FakeLLMServer  # noqa: E402

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "write code"}]
KEY = "sk-canary-9f8e7d6c5b4a"


def _make(kind: str, srv: FakeLLMServer, sleeps: list[float], **kw: object):
    if kind == "openai":
        return OpenAIProvider(base_url=srv.base_url + "/v1", sleep=sleeps.append, **kw)  # type: ignore[arg-type]
    return AnthropicProvider(base_url=srv.base_url, sleep=sleeps.append, **kw)  # type: ignore[arg-type]


def _call(p, seed: int = 0):
    return p.complete(MSGS, model="gpt-3.5-turbo", temperature=0.7, max_tokens=200, seed=seed)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_reply_text_and_usage_come_from_the_api(kind: str) -> None:
    sleeps: list[float] = []
    with FakeLLMServer(api_key=KEY) as srv:
        done = _call(_make(kind, srv, sleeps))
        req = srv.requests[0]
    assert "def label_function" in done.text
    body = json.dumps(req["body"]["messages"]) + str(req["body"].get("system", ""))
    assert done.input_tokens == -(-len(body) // 4)  # the server's count, not ours
    assert done.output_tokens == -(-len(done.text) // 4)
    assert done.provider == kind and done.attempts == 1 and sleeps == []
    if kind == "anthropic":  # system prompt moved to the top-level field
        assert req["body"]["system"] == "be brief"
        assert [m["role"] for m in req["body"]["messages"]] == ["user"]
        assert req["path"] == "/v1/messages"
    else:
        assert req["body"]["seed"] == 0 and req["path"] == "/v1/chat/completions"


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_retries_honour_retry_after_then_succeed(kind: str) -> None:
    sleeps: list[float] = []
    with FakeLLMServer(script=["429:7", "500", "malformed", "empty", "ok"]) as srv:
        done = _call(_make(kind, srv, sleeps))
        assert len(srv.requests) == 5
    assert done.attempts == 5
    assert sleeps[0] == 7.0  # the server's retry-after, exactly
    assert all(0 < s <= 30 for s in sleeps[1:]) and len(sleeps) == 4


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_timeout_is_retried(kind: str) -> None:
    sleeps: list[float] = []
    with FakeLLMServer(script=["timeout", "ok"], slow_s=1.0) as srv:
        done = _call(_make(kind, srv, sleeps, timeout_s=0.3))
    assert done.attempts == 2 and len(sleeps) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_gives_up_after_the_last_attempt_with_a_clear_error(kind: str) -> None:
    sleeps: list[float] = []
    with FakeLLMServer(default="500") as srv:
        with pytest.raises(ProviderError, match="gave up after 3 attempts; last error: server error 500"):
            _call(_make(kind, srv, sleeps, attempts=3))
        assert len(srv.requests) == 3


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_huge_retry_after_is_an_outage_not_a_hang(kind: str) -> None:
    with FakeLLMServer(script=["429:3600"]) as srv:
        with pytest.raises(ProviderError, match="wait 3600s"):
            _call(_make(kind, srv, []))


@pytest.mark.parametrize("kind,env", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_bad_key_unknown_model_are_not_retried(kind: str, env: str) -> None:
    with FakeLLMServer(api_key="the-right-key") as srv:
        with pytest.raises(ProviderError, match=f"refused the key.*{env}"):
            _call(_make(kind, srv, []))
        assert len(srv.requests) == 1
    with FakeLLMServer(script=["404"]) as srv:
        with pytest.raises(ProviderError, match="unknown model 'gpt-3.5-turbo'"):
            _call(_make(kind, srv, []))


def test_missing_key_without_base_url_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ProviderError, match="OPENAI_API_KEY is not set"):
        OpenAIProvider()


def test_record_then_replay_is_exact_and_never_writes_the_key(tmp_path: Path) -> None:
    rec = tmp_path / "rec.json"
    with FakeLLMServer(api_key=KEY) as srv:
        recorder = get_provider("record", record_provider="openai", base_url=srv.base_url + "/v1",
                                recordings=rec)
        assert isinstance(recorder, RecordProvider)
        live = [_call(recorder, seed=s) for s in (0, 1)]
    text = rec.read_text()
    assert KEY not in text and "authorization" not in text.lower()
    replay = ReplayProvider(rec)
    again = [_call(replay, seed=s) for s in (0, 1)]
    assert [c.text for c in again] == [c.text for c in live]
    assert [(c.input_tokens, c.output_tokens) for c in again] == [
        (c.input_tokens, c.output_tokens) for c in live
    ]
    assert set(json.loads(text)["recordings"]) == {recording_key("gpt-3.5-turbo", MSGS, s) for s in (0, 1)}


def test_missing_recording_names_the_key_and_how_to_record(tmp_path: Path) -> None:
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"header": {}, "recordings": {}}))
    key = recording_key("gpt-3.5-turbo", MSGS, 3)
    with pytest.raises(MissingRecording, match=rf"no recording for key {key}.*--provider record"):
        _call(ReplayProvider(rec), seed=3)


def test_recording_key_is_canonical_json_sha256() -> None:
    import hashlib

    canon = json.dumps({"model": "m", "messages": MSGS, "seed": 2}, sort_keys=True,
                       ensure_ascii=False, separators=(",", ":"))
    assert recording_key("m", MSGS, 2) == hashlib.sha256(canon.encode()).hexdigest()
    assert recording_key("m", MSGS, 2) != recording_key("m", MSGS, 3)


def test_provider_factory_errors(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="needs --recordings"):
        get_provider("replay")
    with pytest.raises(ProviderError, match="--record-provider"):
        get_provider("record", recordings=tmp_path / "r.json")
    with pytest.raises(ProviderError, match="unknown provider"):
        get_provider("gemini")
    with pytest.raises(ProviderError, match="not found"):
        get_provider("replay", recordings=tmp_path / "missing.json")


def test_openai_reasoning_models_get_max_completion_tokens() -> None:
    with FakeLLMServer() as srv:
        p = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        done = p.complete(MSGS, model="o4-mini", temperature=0.7, max_tokens=300, seed=1)
        body = srv.requests[0]["body"]
    assert "def label_function" in done.text
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body and "temperature" not in body


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_other_client_errors_fail_at_once_with_the_server_message(kind: str) -> None:
    with FakeLLMServer(script=["400"]) as srv:
        with pytest.raises(ProviderError, match="answered 400: .*prompt is too long"):
            _call(_make(kind, srv, []))
        assert len(srv.requests) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_missing_usage_is_estimated_and_flagged(kind: str) -> None:
    with FakeLLMServer(script=["nousage"]) as srv:
        done = _call(_make(kind, srv, []))
    assert done.usage_estimated and done.output_tokens == -(-len(done.text) // 4)
    assert done.input_tokens == -(-len("be briefwrite code") // 4)

"""LLM providers: the ONLY module importing the vendor SDKs (openai, anthropic).

Every provider answers ``complete(messages, *, model, temperature, max_tokens, seed)``
with a :class:`Completion` carrying the reply text and the token usage the API reported.

* ``openai``    -- official SDK, Chat Completions; ``base_url`` reaches any
                   OpenAI-compatible server (vLLM, Ollama, llama.cpp server).
* ``anthropic`` -- official SDK, Messages API; ``base_url`` too.
* ``replay``    -- offline: answers from a recordings file; a missing recording is a
                   :class:`MissingRecording` error, never a silent fallback.
* ``record``    -- wraps a live provider and writes every reply to a recordings file.

Keys are read from ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` only and never stored:
recordings hold prompts, replies and usage, nothing from the client's configuration.

Retries are ours, not the SDKs' (``max_retries=0`` on the clients): one loop for both
vendors, with exponential backoff that honours ``retry-after``, so tests can observe it
and the error after the last attempt names what to change.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ..labelers import MissingRecording, ProviderError

#: Attempts per call (the first try plus retries) on 429, 5xx, timeouts, connection
#: errors and malformed replies.
MAX_ATTEMPTS = 6
#: Backoff before retry i (0-based) is BACKOFF_BASE_S * 2**i plus jitter, capped.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
#: A server's retry-after larger than this is an outage, not a hiccup: give up with a
#: clear error instead of hanging the run.
RETRY_AFTER_MAX_S = 120.0
#: Seconds one HTTP request may take (connect + read).
REQUEST_TIMEOUT_S = 120.0

RECORDINGS_SCHEMA = 1

#: OpenAI model families that take ``max_completion_tokens`` and no temperature.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")

Message = dict[str, str]


@dataclass(frozen=True)
class Completion:
    """One reply: text plus the usage the API reported (tokens are the API's, not ours)."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    provider: str
    raw_id: str | None = None
    attempts: int = 1
    #: True when the server sent no usage (some OpenAI-compatible servers): the tokens
    #: are then ceil(chars / 4) estimates, and budgets count the call's worst case.
    usage_estimated: bool = False


class Provider(Protocol):
    name: str

    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> Completion: ...


# ---------------------------------------------------------------- recordings


def recording_key(model: str, messages: list[Message], seed: int | None) -> str:
    """The replay key of one call: sha256 (hex) of the canonical JSON of
    ``{"model": model, "messages": messages, "seed": seed}``.

    Canonical JSON = ``json.dumps(obj, sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))`` encoded as UTF-8. ``seed`` is the sample index synth
    gives each call of a run (0..n-1), so the n samples of one prompt have distinct
    keys. Temperature and max_tokens are deliberately not part of the key.
    """
    canon = json.dumps(
        {"model": model, "messages": messages, "seed": seed},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _read_recordings(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProviderError(
            f"{path}: recordings file not found; create one with --provider record "
            "(wrapping a live provider) or point --recordings at an existing file"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProviderError(f"{path}: recordings file is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("recordings"), dict):
        raise ProviderError(
            f"{path}: not a recordings file (expected an object with 'header' and 'recordings')"
        )
    return doc


class ReplayProvider:
    """Answers from a recordings file; deterministic and offline."""

    name = "replay"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        doc = _read_recordings(self.path)
        self.header: dict[str, Any] = dict(doc.get("header") or {})
        self.recordings: dict[str, dict[str, Any]] = doc["recordings"]

    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int | None = None,
    ) -> Completion:
        key = recording_key(model, messages, seed)
        rec = self.recordings.get(key)
        if rec is None:
            raise MissingRecording(
                f"{self.path}: no recording for key {key} (model {model!r}, seed {seed}, "
                f"{len(messages)} messages). Record it by running the same command with "
                "--provider record --record-provider openai|anthropic --recordings "
                f"{self.path}, or add it by hand: see docs/synthesis.md 'Recordings' "
                "(the prompts are printed by `synth --print-prompts`)"
            )
        try:
            return Completion(
                text=str(rec["text"]),
                input_tokens=int(rec.get("input_tokens", 0)),
                output_tokens=int(rec.get("output_tokens", 0)),
                model=str(rec.get("model", model)),
                provider=self.name,
                raw_id=key,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"{self.path}: recording {key} is malformed: {exc}") from exc


class RecordProvider:
    """Wraps a live provider and writes each reply (text + usage) to a recordings file.

    Only the prompt, reply and usage are written: never keys, headers or client config.
    The file is rewritten atomically after every call, so a crash keeps what was paid for.
    """

    name = "record"

    def __init__(self, inner: Provider, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.exists():
            self._doc = _read_recordings(self.path)
        else:
            self._doc = {"header": {}, "recordings": {}}
        self._doc["header"].update(
            {"schema_version": RECORDINGS_SCHEMA, "key": "sha256(canonical {model,messages,seed})"}
        )

    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> Completion:
        done = self.inner.complete(
            messages, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        key = recording_key(model, messages, seed)
        with self._lock:
            self._doc["recordings"][key] = {
                "text": done.text,
                "input_tokens": done.input_tokens,
                "output_tokens": done.output_tokens,
                "model": done.model,
                "provider": done.provider,
                "seed": seed,
                "messages": messages,
            }
            self._doc["header"]["providers"] = sorted(
                {r.get("provider", "?") for r in self._doc["recordings"].values()}
            )
            tmp = self.path.with_name(self.path.name + ".tmp")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(
                json.dumps(self._doc, indent=1, ensure_ascii=False, sort_keys=True),
                encoding="utf-8",
            )
            os.replace(tmp, self.path)
        return done


# ---------------------------------------------------------------- retry loop


class _Retryable(Exception):
    """Internal: a transient failure; ``after`` is the server's retry-after (s) if any."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            # HTTP-date form: fall back to our own backoff rather than parse dates.
            return None
    return None


def _with_retries(
    call: Callable[[], Completion],
    *,
    what: str,
    attempts: int,
    sleep: Callable[[float], None],
) -> Completion:
    last = ""
    for i in range(attempts):
        try:
            done = call()
        except _Retryable as exc:
            last = str(exc)
            if i + 1 == attempts:
                break
            if exc.after is not None:
                if exc.after > RETRY_AFTER_MAX_S:
                    raise ProviderError(
                        f"{what}: {last}; the server asks to wait {exc.after:.0f}s "
                        f"(more than {RETRY_AFTER_MAX_S:.0f}s): try again later"
                    ) from None
                delay = exc.after
            else:
                delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**i) * (0.5 + random.random())
            sleep(delay)
            continue
        return Completion(**{**asdict(done), "attempts": i + 1})
    raise ProviderError(
        f"{what}: gave up after {attempts} attempts; last error: {last}. "
        "Check the server, then rerun: programs already received were committed"
    )


def _require_key(env: str, base_url: str | None) -> str:
    key = os.environ.get(env)
    if key:
        return key
    if base_url:
        # Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) ignore the key,
        # but the SDK insists on one.
        return "no-key"
    raise ProviderError(f"{env} is not set: export it (keys are read from the environment only)")


def _estimate(content: str | list[Message]) -> int:
    """ceil(chars / 4): only used when a server reports no usage."""
    text = content if isinstance(content, str) else "".join(m["content"] for m in content)
    return -(-len(text) // 4)


# ---------------------------------------------------------------- openai


class OpenAIProvider:
    """Chat Completions through the official ``openai`` SDK."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai

        self._openai = openai
        self.base_url = base_url
        self.attempts = attempts
        self._sleep = sleep
        self.client = openai.OpenAI(
            api_key=_require_key("OPENAI_API_KEY", base_url),
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
        )

    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> Completion:
        return _with_retries(
            lambda: self._once(messages, model, temperature, max_tokens, seed),
            what=f"openai {model}",
            attempts=self.attempts,
            sleep=self._sleep,
        )

    def _once(
        self,
        messages: list[Message],
        model: str,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> Completion:
        oa = self._openai
        where = self.base_url or "api.openai.com"
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if model.startswith(REASONING_PREFIXES):
            # OpenAI's reasoning models refuse max_tokens and any temperature but 1.
            kwargs = {"max_completion_tokens": max_tokens}
        try:
            resp = self.client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                seed=seed,
                **kwargs,
            )
        except oa.AuthenticationError as exc:
            raise ProviderError(
                f"openai at {where} refused the key ({exc.status_code}): check OPENAI_API_KEY"
            ) from None
        except oa.PermissionDeniedError as exc:
            raise ProviderError(
                f"openai at {where}: permission denied for model {model!r}: {exc.message}"
            ) from None
        except oa.NotFoundError:
            raise ProviderError(
                f"openai at {where}: unknown model {model!r} (404); pick a model the server "
                "serves (--model)"
            ) from None
        except oa.RateLimitError as exc:
            raise _Retryable("429 rate limited", _retry_after(exc.response.headers)) from None
        except oa.InternalServerError as exc:
            raise _Retryable(
                f"server error {exc.status_code}", _retry_after(exc.response.headers)
            ) from None
        except oa.APITimeoutError:
            raise _Retryable("request timed out") from None
        except oa.APIConnectionError as exc:
            raise _Retryable(f"connection failed: {exc}") from None
        except oa.APIResponseValidationError as exc:
            raise _Retryable(f"malformed reply: {exc}") from None
        except ValueError as exc:  # the body is not JSON (json.JSONDecodeError)
            raise _Retryable(f"malformed reply (not JSON: {exc})") from None
        except oa.APIStatusError as exc:
            raise ProviderError(
                f"openai at {where} answered {exc.status_code}: {exc.message}"
            ) from None
        return _openai_completion(resp, model, messages)


def _openai_completion(resp: Any, model: str, messages: list[Message]) -> Completion:
    # The SDK does not validate bodies strictly: a non-JSON or odd body comes back as
    # a str or a half-filled object, which is a malformed reply, worth a retry.
    try:
        choice = resp.choices[0]
        text = choice.message.content
        usage = resp.usage
        if not isinstance(text, str):
            raise TypeError("message.content is not a string")
        return Completion(
            text=text,
            input_tokens=int(usage.prompt_tokens) if usage else _estimate(messages),
            output_tokens=int(usage.completion_tokens) if usage else _estimate(text),
            usage_estimated=usage is None,
            model=str(getattr(resp, "model", None) or model),
            provider="openai",
            raw_id=getattr(resp, "id", None),
        )
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise _Retryable(f"malformed reply ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------- anthropic


class AnthropicProvider:
    """Messages API through the official ``anthropic`` SDK."""

    name = "anthropic"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import anthropic

        self._anthropic = anthropic
        self.base_url = base_url
        self.attempts = attempts
        self._sleep = sleep
        self.client = anthropic.Anthropic(
            api_key=_require_key("ANTHROPIC_API_KEY", base_url),
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
        )

    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float,
        max_tokens: int,
        seed: int | None,
    ) -> Completion:
        # This SDK's Messages API takes neither seed nor temperature: diversity across
        # the n samples comes from the prompts (diversity hints); the seed still keys
        # recordings.
        return _with_retries(
            lambda: self._once(messages, model, max_tokens),
            what=f"anthropic {model}",
            attempts=self.attempts,
            sleep=self._sleep,
        )

    def _once(self, messages: list[Message], model: str, max_tokens: int) -> Completion:
        an = self._anthropic
        where = self.base_url or "api.anthropic.com"
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        kwargs: dict[str, Any] = {}
        if system:
            kwargs["system"] = system
        try:
            resp = self.client.messages.create(
                model=model,
                messages=turns,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                **kwargs,
            )
        except an.AuthenticationError as exc:
            raise ProviderError(
                f"anthropic at {where} refused the key ({exc.status_code}): check ANTHROPIC_API_KEY"
            ) from None
        except an.PermissionDeniedError as exc:
            raise ProviderError(
                f"anthropic at {where}: permission denied for model {model!r}: {exc.message}"
            ) from None
        except an.NotFoundError:
            raise ProviderError(
                f"anthropic at {where}: unknown model {model!r} (404); pick a model the "
                "server serves (--model)"
            ) from None
        except an.RateLimitError as exc:
            raise _Retryable("429 rate limited", _retry_after(exc.response.headers)) from None
        except an.InternalServerError as exc:
            raise _Retryable(
                f"server error {exc.status_code}", _retry_after(exc.response.headers)
            ) from None
        except an.APITimeoutError:
            raise _Retryable("request timed out") from None
        except an.APIConnectionError as exc:
            raise _Retryable(f"connection failed: {exc}") from None
        except an.APIResponseValidationError as exc:
            raise _Retryable(f"malformed reply: {exc}") from None
        except ValueError as exc:  # the body is not JSON (json.JSONDecodeError)
            raise _Retryable(f"malformed reply (not JSON: {exc})") from None
        except an.APIStatusError as exc:
            if exc.status_code >= 500:  # 529 overloaded and friends
                raise _Retryable(
                    f"server error {exc.status_code}", _retry_after(exc.response.headers)
                ) from None
            raise ProviderError(
                f"anthropic at {where} answered {exc.status_code}: {exc.message}"
            ) from None
        return _anthropic_completion(resp, model, messages)


def _anthropic_completion(resp: Any, model: str, messages: list[Message]) -> Completion:
    try:
        parts = [b.text for b in resp.content if getattr(b, "type", None) == "text"]
        if not parts:
            raise TypeError("no text block in content")
        usage = resp.usage
        text = "".join(parts)
        return Completion(
            text=text,
            input_tokens=int(usage.input_tokens) if usage else _estimate(messages),
            output_tokens=int(usage.output_tokens) if usage else _estimate(text),
            usage_estimated=usage is None,
            model=str(getattr(resp, "model", None) or model),
            provider="anthropic",
            raw_id=getattr(resp, "id", None),
        )
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise _Retryable(f"malformed reply ({type(exc).__name__}: {exc})") from None


def complete_many(
    provider: Provider,
    calls: Sequence[tuple[list[Message], str, int | None]],
    *,
    temperature: float,
    max_tokens: int,
    concurrency: int = 1,
) -> list[Completion | ProviderError]:
    """``(messages, model, seed)`` calls with up to ``concurrency`` in flight; results in
    call order, a failed call's ProviderError in its place (the others still count)."""

    def one(c: tuple[list[Message], str, int | None]) -> Completion | ProviderError:
        try:
            return provider.complete(c[0], model=c[1], temperature=temperature,
                                     max_tokens=max_tokens, seed=c[2])
        except ProviderError as exc:
            return exc

    if concurrency <= 1 or len(calls) <= 1:
        out: list[Completion | ProviderError] = []
        for c in calls:
            out.append(one(c))
            if isinstance(out[-1], ProviderError):
                break  # sequential: stop at the first failure, as a user would
        return out + [ProviderError("not sent: an earlier call failed")] * (len(calls) - len(out))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(concurrency, len(calls))) as pool:
        return list(pool.map(one, calls))


# ---------------------------------------------------------------- factory

PROVIDERS = ("openai", "anthropic", "replay", "record")


def get_provider(
    name: str,
    *,
    base_url: str | None = None,
    recordings: str | Path | None = None,
    record_provider: str | None = None,
    timeout_s: float = REQUEST_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Provider:
    """Build a provider by name. ``record`` wraps ``record_provider`` (openai|anthropic)."""
    if name == "openai":
        return OpenAIProvider(base_url=base_url, timeout_s=timeout_s, sleep=sleep)
    if name == "anthropic":
        return AnthropicProvider(base_url=base_url, timeout_s=timeout_s, sleep=sleep)
    if name in ("replay", "record") and recordings is None:
        raise ProviderError(f"--provider {name} needs --recordings PATH (a JSON recordings file)")
    if name == "replay":
        assert recordings is not None
        return ReplayProvider(recordings)
    if name == "record":
        assert recordings is not None
        if record_provider not in ("openai", "anthropic"):
            raise ProviderError(
                "--provider record wraps a live provider: add --record-provider openai|anthropic"
            )
        inner = get_provider(record_provider, base_url=base_url, timeout_s=timeout_s, sleep=sleep)
        return RecordProvider(inner, recordings)
    raise ProviderError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")

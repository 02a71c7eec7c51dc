"""A loopback HTTP server speaking OpenAI Chat Completions and Anthropic Messages.

Used by the provider and synth tests (the real SDKs talk to it over HTTP) and by hand:

    python tests/fakeserver.py --faults 429,ok,500,ok   # prints its base URL, serves forever

Each request consumes the next scripted action (then ``default`` applies):
``ok`` (a reply with a labeling function; every sixth one imports ``os``), ``nocode`` (prose only), ``429`` /
``429:S`` (rate limited, retry-after S seconds), ``500``, ``529``, ``timeout``
(answers after ``slow_s``), ``malformed`` (a broken JSON body), ``empty`` (valid JSON
without choices/content), ``nousage`` (a reply without usage fields), ``400``, ``401``, ``404``. Usage fields are counted from the request
and reply (ceil(chars / 4)), as a real API reports its own token counts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEYWORD_SETS = [
    ["subscribe", "sub to", "sub4sub"],
    ["check out my", "check my channel", "my channel"],
    ["http", "www.", ".com"],
    ["free", "win", "gift card"],
    ["follow me", "follow my"],
    ["click here", "visit"],
    ["money", "earn", "$"],
    ["like this comment", "thumbs up"],
    ["please", "plz", "pls"],
    ["facebook", "instagram", "twitter"],
    ["song", "love this", "best"],
    ["views", "billion", "2015"],
]


def program_for(i: int) -> str:
    """A distinct, valid labeling function for call ``i`` (binary tasks: 1 vs abstain, or 0)."""
    words = KEYWORD_SETS[i % len(KEYWORD_SETS)]
    vote = 0 if i % len(KEYWORD_SETS) in (10, 11) else 1
    return (
        "import re\n\n"
        f"KEYWORDS = {words!r}\n\n"
        "def label_function(text):\n"
        "    t = text.lower()\n"
        "    if any(k in t for k in KEYWORDS):\n"
        f"        return {vote}\n"
        "    return -1\n"
    )


def default_reply(i: int, request: dict[str, Any]) -> str:
    prompt = json.dumps(request.get("messages", ""))
    if "do not write code" in prompt:  # a prior-knowledge call
        return "- Spam comments ask viewers to subscribe or visit a channel or link.\n" \
               "- Ham comments talk about the song or the video itself."
    if "JSON" in prompt and "label" in prompt:  # a direct annotation call
        row = prompt.partition("<<<")[2].partition(">>>")[0].lower()
        spam = any(w in row for w in ("subscribe", "channel", "follow", "free", "http"))
        return json.dumps({"label": int(spam)})
    if i % 6 == 5:  # a program the sandbox policy must reject, as real models sometimes write
        return "```python\nimport os\n\ndef label_function(text):\n    return 1 if os.sep in text else -1\n```"
    return f"Here is a labeling function:\n\n```python\n{program_for(i)}```\nIt abstains otherwise."


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class FakeLLMServer:
    """Start with ``with FakeLLMServer(script=[...]) as srv:``; ``srv.base_url``."""

    script: list[str] = field(default_factory=list)
    default: str = "ok"
    replier: Callable[[int, dict[str, Any]], str] = default_reply
    api_key: str | None = None  # when set, other keys get 401
    slow_s: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._actions = iter(self.script)
        self._ok_count = itertools.count()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_action(self) -> str:
        with self._lock:
            return next(self._actions, self.default)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _error(self, status: int, kind: str, msg: str, headers: Iterable[tuple[str, str]] = ()) -> None:
                if self.path.endswith("/messages"):
                    body = {"type": "error", "error": {"type": kind, "message": msg}}
                else:
                    body = {"error": {"message": msg, "type": kind, "code": kind}}
                self._send(status, json.dumps(body).encode(), headers)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                try:
                    req = json.loads(raw)
                except json.JSONDecodeError:
                    req = {}
                anthropic = self.path.endswith("/messages")
                # Anthropic's SDK sends x-api-key or (newer versions) a bearer token.
                key = self.headers.get("x-api-key") or (
                    (self.headers.get("authorization") or "").removeprefix("Bearer "))
                action = server.next_action()
                with server._lock:
                    server.requests.append({"path": self.path, "body": req, "action": action,
                                            "headers": dict(self.headers)})
                if server.api_key is not None and key != server.api_key:
                    return self._error(401, "authentication_error", "invalid x-api-key")
                if not (self.path.endswith("/chat/completions") or anthropic):
                    return self._error(404, "not_found_error", f"no route {self.path}")
                model_name = str(req.get("model", ""))
                if not anthropic and model_name.startswith(("o1", "o3", "o4", "gpt-5")) and (
                        "max_tokens" in req or "temperature" in req):
                    return self._error(400, "invalid_request_error", "Unsupported parameter: "
                                       "'max_tokens' is not supported with this model. Use "
                                       "'max_completion_tokens' instead.")
                if action.startswith("429"):
                    after = action.partition(":")[2] or "0"
                    return self._error(429, "rate_limit_error", "slow down", [("retry-after", after)])
                if action in ("500", "529"):
                    return self._error(int(action), "api_error", "internal error")
                if action == "400":
                    return self._error(400, "invalid_request_error", "prompt is too long")
                if action == "401":
                    return self._error(401, "authentication_error", "invalid api key")
                if action == "404":
                    return self._error(404, "not_found_error", f"model {req.get('model')} not found")
                if action == "timeout":
                    time.sleep(server.slow_s)
                if action == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [ {"message": ')
                if action == "empty":
                    return self._send(200, b'{"id": "x", "object": "whatever"}')
                i = next(server._ok_count)
                text = server.replier(i, req) if action != "nocode" else \
                    "I cannot write code for this, but spam often mentions channels."
                prompt = json.dumps(req.get("messages", "")) + str(req.get("system", ""))
                tin, tout = _tokens(prompt), _tokens(text)
                model = req.get("model", "?")
                if action == "nousage":  # some OpenAI-compatible servers send none
                    body = {"id": f"x-{i}", "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text}}]} if not anthropic else {
                            "id": f"x-{i}", "type": "message", "role": "assistant", "model": model,
                            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}
                elif anthropic:
                    body = {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": model,
                            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                            "stop_sequence": None,
                            "usage": {"input_tokens": tin, "output_tokens": tout}}
                else:
                    body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": int(time.time()),
                            "model": model,
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": text}}],
                            "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                                      "total_tokens": tin + tout}}
                self._send(200, json.dumps(body).encode())

        return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", default="", help="comma-separated actions, cycled forever")
    args = ap.parse_args()
    cycle = [a for a in args.faults.split(",") if a]
    srv = FakeLLMServer()
    if cycle:
        srv._actions = itertools.cycle(cycle)
    with srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

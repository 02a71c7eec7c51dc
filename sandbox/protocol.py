"""Length-prefixed frames between the host and a sandbox worker (stdlib only).

This module is imported by the host *and* loaded by ``worker.py`` inside the sandbox,
where only the standard library, pyarrow and RestrictedPython exist, so it must not
import anything from ``alchemist_engine``.

Wire format: every frame is ``u32 little-endian length`` + payload; the payload's first
byte is a tag. A message with a header is ``tag + u32 header length + JSON header +
body`` (the body is an Arrow IPC stream or empty).

Host -> worker:  ``S`` setup (JSON: programs, cardinality, policy, limits, data, lower)
                 ``B`` batch (JSON ``{"batch": i, "run": [labeler ids]}`` + Arrow IPC ``text``,
                 or no body when setup's ``data`` names the shared read-only Arrow file)
                 ``E`` end of input
Worker -> host:  ``R`` ready (setup read, imports done; no untrusted code has run yet)
                 ``H`` hello, one per program in order (JSON ``{"id", "error", "lowered"}``)
                 ``L`` labels (JSON ``{"id", "batch", "errors", "first_error", "violation"}``
                 + Arrow IPC ``label: int8``)
                 ``X`` fatal worker error (UTF-8 message)
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any, BinaryIO

HEADER = struct.Struct("<I")
SETUP, BATCH, END, READY, HELLO, LABELS, FATAL = b"S", b"B", b"E", b"R", b"H", b"L", b"X"

#: No frame in either direction may exceed this (a batch of text is the largest).
MAX_FRAME = 1 << 30


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


class Deadline(Exception):
    """The peer did not answer in time."""


class PeerGone(Exception):
    """The peer closed the pipe (exited, was killed, or crashed)."""


class OutputFlood(Exception):
    """The worker wrote more to stderr than the cap allows."""


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def message(tag: bytes, header: dict[str, Any], body: bytes = b"") -> bytes:
    """``tag + u32 + JSON header + body`` as one frame payload."""
    raw = json.dumps(header, separators=(",", ":")).encode()
    return tag + HEADER.pack(len(raw)) + raw + body


def parse_message(payload: bytes) -> tuple[bytes, dict[str, Any], memoryview]:
    """Split a payload made by :func:`message`; raises ProtocolError when malformed."""
    if len(payload) < 5:
        raise ProtocolError(f"short message ({len(payload)} bytes)")
    tag = payload[:1]
    (n,) = HEADER.unpack_from(payload, 1)
    if 5 + n > len(payload):
        raise ProtocolError("header length runs past the end of the message")
    try:
        header = json.loads(bytes(payload[5 : 5 + n]))
    except (ValueError, RecursionError) as exc:  # a hostile worker could nest deeply
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    return tag, header, memoryview(payload)[5 + n :]


def read_frame(stream: BinaryIO) -> bytes | None:
    """Blocking read of one frame (worker side); None at a clean end of stream."""
    head = _read_exact(stream, 4)
    if head is None:
        return None
    (n,) = HEADER.unpack(head)
    if n > MAX_FRAME:
        raise ProtocolError(f"frame of {n} bytes exceeds {MAX_FRAME}")
    body = _read_exact(stream, n)
    if body is None:
        raise ProtocolError("stream ended inside a frame")
    return body


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise ProtocolError("stream ended inside a frame")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class Channel:
    """Host end of a worker's pipes: frame I/O with deadlines, stderr kept in a ring.

    All three pipes are non-blocking and multiplexed with ``select`` so that a worker
    that stops reading, stops writing or floods stderr can never block the host.
    """

    def __init__(self, stdin: int, stdout: int, stderr: int, *, stderr_cap: int = 1 << 20, max_reply: int = MAX_FRAME) -> None:
        self.wfd, self.rfd, self.efd = stdin, stdout, stderr
        for fd in (stdin, stdout, stderr):
            os.set_blocking(fd, False)
        self.buf = bytearray()
        self.stderr_tail = bytearray()
        self.stderr_total = 0
        self.stderr_cap = stderr_cap
        self.max_reply = max_reply
        self.err_open = True

    def send(self, payload: bytes, deadline: float) -> None:
        data = memoryview(frame(payload))
        while data:
            w = self._wait(deadline, want_write=True)
            if w:
                try:
                    n = os.write(self.wfd, data[: 1 << 20])
                except BrokenPipeError:
                    raise PeerGone("worker closed its input") from None
                except BlockingIOError:
                    continue
                data = data[n:]

    def recv(self, deadline: float) -> bytes:
        while True:
            if len(self.buf) >= 4:
                (n,) = HEADER.unpack_from(self.buf, 0)
                if n > self.max_reply:
                    raise ProtocolError(f"reply frame of {n} bytes exceeds {self.max_reply}")
                if len(self.buf) >= 4 + n:
                    out = bytes(self.buf[4 : 4 + n])
                    del self.buf[: 4 + n]
                    return out
            self._wait(deadline, want_write=False)
            try:
                chunk = os.read(self.rfd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise PeerGone("worker closed its output")
            self.buf += chunk

    def _wait(self, deadline: float, *, want_write: bool) -> bool:
        """Block until the main fd is ready; drain stderr meanwhile. True if ready."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline("worker did not answer in time")
            rlist = [self.efd] if self.err_open else []
            wlist = [self.wfd] if want_write else []
            if not want_write:
                rlist.append(self.rfd)
            r, w, _ = select.select(rlist, wlist, [], min(left, 1.0))
            if self.efd in r:
                self._drain_stderr()
            if (want_write and w) or (not want_write and self.rfd in r):
                return True

    def _drain_stderr(self) -> None:
        try:
            chunk = os.read(self.efd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            self.err_open = False
            return
        self.stderr_total += len(chunk)
        self.stderr_tail += chunk
        del self.stderr_tail[: max(0, len(self.stderr_tail) - 4096)]
        if self.stderr_total > self.stderr_cap:
            raise OutputFlood(f"worker wrote more than {self.stderr_cap} bytes to stderr")

    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace").strip()

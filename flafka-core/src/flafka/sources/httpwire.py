"""HTTP/1.1 on one server connection, as lean as the http source's data path needs.

The standard library's ``http.server`` parses every request's headers with the ``email``
package and formats a ``Date`` with ``email.utils`` for every answer: a quarter of the
http source's CPU at JSON batches of 100 (benchmarks/RESULTS.md, issue 13). This module reads
a request head from a buffered binary stream and builds a whole answer as one ``bytes``
(one ``send``), with the same rules as ``http.server`` for what it accepts:

* request line ``METHOD TARGET HTTP/x.y``, at most 65,536 bytes (else 414); HTTP/1.0 and
  1.1 (2.0 and later: 505; anything else: 400); empty lines before it are skipped;
* at most 100 header lines of at most 65,536 bytes each (else 431); names are
  case-insensitive (lower-cased here); obsolete line folding is joined; a later repeat of
  a name replaces the earlier value (``Content-Length`` repeats must agree, else 400);
* keep-alive: HTTP/1.1 unless ``Connection: close``; HTTP/1.0 only with
  ``Connection: keep-alive`` (answered with the same header);
* bodies: ``Content-Length`` or ``Transfer-Encoding: chunked``, never read past a limit
  (:func:`body_size` tells the size first, so a too large body is refused unread); a
  client that sent ``Expect: 100-continue`` gets ``100 Continue`` only when its body is
  going to be read.

Nothing here knows about events; :mod:`flafka.sources.http` uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol

__all__ = [
    "CONTINUE", "MAX_HEADERS", "MAX_LINE", "BadHttp", "Head", "Reader", "TooLarge", "answer", "body_size", "expects_continue",
    "read_body", "read_head",
]  # fmt: skip

MAX_LINE = 65536
MAX_HEADERS = 100
_BLANK = (b"\r\n", b"\n")


class Reader(Protocol):
    """A buffered binary stream (a socket's ``makefile("rb")``)."""

    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


class BadHttp(Exception):
    """The request cannot be read: answer ``status`` with the message, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Head:
    """A request line and its headers (lower-case names, values as ISO-8859-1 text)."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    keep_alive: bool


def _line(rfile: Reader, what: str) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        if what == "request":
            raise BadHttp(414, "Request-URI Too Long")
        raise BadHttp(431, "Line too long")
    return line


def read_head(rfile: Reader) -> Head | None:
    """The next request's head, or None when the client closed the connection before
    sending one. Raises :class:`BadHttp` for a request that breaks the rules above, and
    what the stream raises (OSError, TimeoutError)."""
    line = _line(rfile, "request")
    skipped = 0
    while line in _BLANK:
        skipped += 1
        if skipped > 10:
            raise BadHttp(400, "Bad request syntax (empty lines)")
        line = _line(rfile, "request")
    if not line:
        return None
    text = line.decode("iso-8859-1").rstrip("\r\n")
    words = text.split()
    if len(words) != 3:
        raise BadHttp(400, f"Bad request syntax ({text[:200]!r})")
    method, target, version = words
    if version[:5] != "HTTP/":
        raise BadHttp(400, f"Bad request version ({version[:50]!r})")
    major, dot, minor = version[5:].partition(".")
    if not (dot and major.isdigit() and minor.isdigit() and len(major) < 10 and len(minor) < 10):
        raise BadHttp(400, f"Bad request version ({version[:50]!r})")
    number = (int(major), int(minor))
    if number >= (2, 0):
        raise BadHttp(505, f"Invalid HTTP version ({version[5:50]})")
    headers: dict[str, str] = {}
    lengths: set[str] = set()
    last = ""
    count = 0
    while True:
        raw = _line(rfile, "header")
        if raw in _BLANK or not raw:
            break
        count += 1
        if count > MAX_HEADERS:
            raise BadHttp(431, "Too many headers")
        entry = raw.decode("iso-8859-1").rstrip("\r\n")
        if entry[:1] in (" ", "\t"):
            if not last:
                raise BadHttp(400, "Bad header: a continuation line before any header")
            headers[last] = f"{headers[last]} {entry.strip()}"
            continue
        name, colon, value = entry.partition(":")
        name = name.strip().lower()
        if not colon or not name or " " in name:
            raise BadHttp(400, f"Bad header line ({entry[:200]!r})")
        value = value.strip()
        headers[name] = value
        if name == "content-length":
            lengths.add(value)
        last = name
    if len(lengths) > 1:
        raise BadHttp(400, "Bad request: Content-Length headers disagree")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens and (number >= (1, 1) or "keep-alive" in tokens)
    return Head(method, target, version, headers, keep_alive)


def body_size(head: Head) -> int | None:
    """The body's length from ``Content-Length`` (0 when the request has no body), or
    None for a chunked body (its size is known only while reading it). Raises
    :class:`BadHttp` for a length that is not a number."""
    coding = head.headers.get("transfer-encoding")
    if coding is not None and coding.rsplit(",", 1)[-1].strip().lower() == "chunked":
        return None
    length = head.headers.get("content-length")
    if length is None:
        return 0
    if not (length.isascii() and length.isdigit()):
        raise BadHttp(400, f"Bad request from client. Content-Length '{length}' is not a number")
    return int(length)


class TooLarge(Exception):
    """A chunked body grew past the limit (nothing more was read)."""


def read_body(rfile: Reader, head: Head, size: int | None, limit: int) -> bytes:
    """The body: ``size`` bytes, or the chunks of a chunked one up to ``limit`` bytes
    (raises :class:`TooLarge` past it, :class:`BadHttp` for a malformed chunk, EOFError
    when the client closed the connection before the end)."""
    if size is not None:
        if size == 0:
            return b""
        data = rfile.read(size)
        if len(data) < size:
            raise EOFError("the client closed the connection in the middle of the body")
        return data
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            n = int(line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise BadHttp(400, "Bad request from client. Malformed chunked body") from None
        if n < 0:
            raise BadHttp(400, "Bad request from client. Malformed chunked body")
        if n == 0:
            while True:  # trailer fields, up to the blank line
                trailer = rfile.readline(MAX_LINE + 1)
                if trailer in _BLANK or not trailer:
                    return b"".join(parts)
        total += n
        if total > limit:
            raise TooLarge()
        data = rfile.read(n)
        if len(data) < n:
            raise EOFError("the client closed the connection in the middle of the body")
        parts.append(data)
        rfile.readline(1024)


def expects_continue(head: Head) -> bool:
    """True when the client waits for ``100 Continue`` before it sends its body."""
    return head.version != "HTTP/1.0" and head.headers.get("expect", "").lower() == "100-continue"


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_date: tuple[int, str] = (0, "")
_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _http_date() -> str:
    """``Date`` header value, formatted once a second."""
    global _date
    now = int(time.time())
    cached = _date
    if cached[0] != now:
        cached = _date = (now, formatdate(now, usegmt=True))
    return cached[1]


def answer(status: int, message: str = "", *, close: bool, keep_alive_header: bool = False, head_only: bool = False) -> bytes:
    """A whole HTTP/1.1 answer with a ``text/plain`` body: status line, ``Server``,
    ``Date``, ``Content-Type``, ``Content-Length``, ``Connection: close`` when ``close``
    (``keep-alive`` when ``keep_alive_header``), then the body (not for HEAD)."""
    body = message.encode("utf-8")
    connection = "Connection: close\r\n" if close else ("Connection: keep-alive\r\n" if keep_alive_header else "")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: flafka\r\nDate: {_http_date()}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n{connection}\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)

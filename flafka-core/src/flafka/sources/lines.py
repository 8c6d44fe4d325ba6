"""Splitting a byte stream into newline-terminated lines, as Flume's netcat source does.

:class:`LineFramer` decodes the stream with the configured charset (Flume reads it with a
``Reader`` of that charset) and hands back each line without its ``\\n`` (a ``\\r`` before
it stays, as in Flume), encoded as UTF-8 — Flume's body is ``UTF_8.encode(line)`` whatever
``encoding`` says. A line longer than ``max_chars`` characters *including* its newline is
refused (Flume answers ``FAILED`` and drops the connection): the framer never buffers
more than ``max_chars`` characters of an unfinished line, so a client sending 1 GB without
a newline costs ``max_chars`` characters of memory.

Bytes that are not valid in the charset are kept, not replaced: they are decoded with
``surrogateescape`` and encoded back the same way, so they reach the body unchanged
(Flume drops the connection on them). :attr:`LineFramer.invalid` counts the chunks that
held such bytes, for the source's warning and metric.
"""

from __future__ import annotations

import codecs
import re

_ESCAPED = re.compile("[\udc80-\udcff]")


class LineFramer:
    """Feed bytes, get complete lines (bodies). Pure: no I/O."""

    def __init__(self, encoding: str = "utf-8", max_chars: int = 512) -> None:
        self.max_chars = max_chars
        self._encoding = encoding
        self._decode = codecs.getincrementaldecoder(encoding)(errors="surrogateescape").decode
        self._parts: list[str] = []
        self._pending = 0
        self.invalid = 0
        """Chunks seen with bytes that are not valid in the charset."""
        self.too_long = False
        """Set once a line exceeded ``max_chars``; the framer takes no more input then."""

    @property
    def pending_chars(self) -> int:
        """Characters of an unfinished line held (at most ``max_chars - 1``)."""
        return self._pending

    def feed(self, data: bytes, final: bool = False) -> list[bytes]:
        """Lines completed by ``data``, in order. After a too-long line, :attr:`too_long`
        is set and the lines after it are not returned (Flume never reads past it)."""
        if self.too_long:
            return []
        try:
            text = self._decode(data, final)
        except UnicodeError:  # what surrogateescape cannot take (a cut UTF-16 unit, no BOM)
            self.invalid += 1
            text = self._fallback(data, final)
        if not text:
            return []
        if _ESCAPED.search(text):
            self.invalid += 1
        out: list[bytes] = []
        idx = text.find("\n")
        if idx < 0:
            self._hold(text)
            return out
        limit = self.max_chars
        start = 0
        if self._parts:
            if self._pending + idx + 1 > limit:
                self.too_long = True
                return out
            self._parts.append(text[:idx])
            out.append("".join(self._parts).encode("utf-8", "surrogateescape"))
            self._parts.clear()
            self._pending = 0
            start = idx + 1
            idx = text.find("\n", start)
        while idx >= 0:
            if idx - start + 1 > limit:
                self.too_long = True
                return out
            out.append(text[start:idx].encode("utf-8", "surrogateescape"))
            start = idx + 1
            idx = text.find("\n", start)
        if start < len(text):
            self._hold(text[start:] if start else text)
        return out

    def _fallback(self, data: bytes, final: bool) -> str:
        """Decode with ``replace`` from now on; a UTF-16 stream without a BOM is read
        big-endian, as Java does."""
        name = codecs.lookup(self._encoding).name
        encoding = "utf-16-be" if name == "utf-16" else "utf-32-be" if name == "utf-32" else self._encoding
        self._decode = codecs.getincrementaldecoder(encoding)(errors="replace").decode
        try:
            return self._decode(data, final)
        except UnicodeError:
            self._decode = codecs.getincrementaldecoder("latin-1")().decode
            return self._decode(data, final)

    def _hold(self, text: str) -> None:
        if self._pending + len(text) >= self.max_chars:
            self.too_long = True
            self._parts.clear()
            self._pending = 0
            return
        self._parts.append(text)
        self._pending += len(text)

"""Java's ``BufferedReader.readLine`` over a byte stream: lines end at ``\\n``, ``\\r``
or ``\\r\\n`` (terminators dropped), and an unterminated last line counts as a line at
the end of the stream. Used by the ``exec`` source, whose events are Flume's
``readLine()`` results encoded back in ``charset``.

Bytes invalid in the charset are kept unchanged (``surrogateescape`` both ways; Flume
replaces them with U+FFFD) and counted in :attr:`ReadLineSplitter.invalid`. A line longer
than ``max_chars`` is cut into pieces of ``max_chars`` characters, each its own line, and
counted in :attr:`ReadLineSplitter.cut` — so memory stays bounded whatever the stream
holds (Flume buffers the whole line).
"""

from __future__ import annotations

import codecs
import re

_TERMINATOR = re.compile("\r\n|\r|\n")
_ESCAPED = re.compile("[\udc80-\udcff]")


class ReadLineSplitter:
    """Feed bytes, get complete lines as bytes in ``charset``. Pure: no I/O."""

    def __init__(self, charset: str = "UTF-8", max_chars: int = 1 << 20) -> None:
        self.charset = charset
        self.max_chars = max_chars
        self._decode = codecs.getincrementaldecoder(charset)(errors="surrogateescape").decode
        self._parts: list[str] = []
        self._pending = 0
        self._skip_lf = False
        self._cutting = False
        self.cut = 0
        """Lines that were longer than ``max_chars`` (each cut into pieces)."""
        self.invalid = 0
        """Chunks that held bytes invalid in the charset."""

    def _encode(self, text: str) -> bytes:
        try:
            return text.encode(self.charset, "surrogateescape")
        except UnicodeEncodeError:  # kept bytes the charset cannot write back (UTF-16)
            return text.encode(self.charset, "replace")

    def feed(self, data: bytes, final: bool = False) -> list[bytes]:
        """Lines completed by ``data``; with ``final`` the unterminated rest too."""
        try:
            text = self._decode(data, final)
        except UnicodeError:  # a cut multi-byte unit surrogateescape cannot carry
            self.invalid += 1
            self._decode = codecs.getincrementaldecoder(self.charset)(errors="replace").decode
            text = data.decode(self.charset, "replace")
        out: list[bytes] = []
        if text:
            if _ESCAPED.search(text):
                self.invalid += 1
            if self._skip_lf and text[0] == "\n":
                text = text[1:]
            self._skip_lf = text.endswith("\r")
            pieces = _TERMINATOR.split(text)
            for seg in pieces[:-1]:
                if self._parts:
                    self._parts.append(seg)
                    seg = "".join(self._parts)
                    self._parts.clear()
                    self._pending = 0
                self._emit(seg, out)
            rest = pieces[-1]
            if rest:
                self._parts.append(rest)
                self._pending += len(rest)
                if self._pending > self.max_chars:
                    held = "".join(self._parts)
                    self._parts.clear()
                    whole = len(held) - len(held) % self.max_chars
                    if whole == len(held):  # keep the last piece: more of it may follow
                        whole -= self.max_chars
                    self._cutting = True
                    for i in range(0, whole, self.max_chars):
                        out.append(self._encode(held[i : i + self.max_chars]))
                    tail = held[whole:]
                    self._parts.append(tail)
                    self._pending = len(tail)
        if final and self._parts:
            self._emit("".join(self._parts), out)
            self._parts.clear()
            self._pending = 0
        return out

    def _emit(self, line: str, out: list[bytes]) -> None:
        limit = self.max_chars
        if self._cutting or len(line) > limit:
            self.cut += 1
            self._cutting = False
        if len(line) <= limit:
            out.append(self._encode(line))
            return
        for i in range(0, len(line), limit):
            out.append(self._encode(line[i : i + limit]))

"""``java.util.Properties`` parsing, exactly as Java's ``Properties.load`` reads a file,
keeping the file and line of every key.

What is reproduced (``java.util.Properties.LineReader`` and ``load0``):

- natural lines end at ``\\n``, ``\\r`` or ``\\r\\n``; leading spaces, tabs and form feeds
  are skipped; blank lines are skipped;
- a line whose first non-blank character is ``#`` or ``!`` is a comment (a comment never
  continues onto the next line, even when it ends with a backslash);
- a line ending in an odd number of backslashes continues on the next line; the
  backslash and the leading whitespace of the continued line are dropped; a continued
  line that is blank ends the logical line;
- the key ends at the first unescaped ``=``, ``:`` or whitespace; whitespace around the
  separator and one ``=``/``:`` after whitespace are skipped;
- escapes: ``\\uXXXX`` (UTF-16 code units, surrogate pairs combined), ``\\t \\n \\r \\f``
  and ``\\X`` -> ``X`` for any other character (so ``\\\\d`` -> ``\\d``, ``\\=`` -> ``=``,
  ``\\ `` -> space);
- duplicate keys: the last one wins (every occurrence is kept so callers can warn).

Trailing whitespace of values is kept here (Java keeps it; Flume trims keys and values
later, see :mod:`flafka.config.grammar`).

Flafka decision on encoding: files are read as **UTF-8** (modern files are UTF-8, and
Flume 1.6 read them in the platform charset, usually UTF-8), with a leading byte order
mark ignored; ``\\uXXXX`` escapes are honoured as always. A file that is not valid UTF-8
is read as ISO-8859-1 — what Java's ``Properties.load(InputStream)`` (Flume 1.10+) does —
with a warning.
"""

from __future__ import annotations

import bisect
import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_LINE_END = re.compile(r"\r\n|\r|\n")
_BLANK = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


@dataclass(frozen=True)
class Entry:
    """One ``key = value`` of a properties file (after unescaping).

    ``line`` is the first physical line of the logical line (1-based). ``key_start`` /
    ``key_end`` are offsets of the key's raw (escaped) text in the file text, and
    ``start`` / ``end`` the offsets of the whole logical line (without its final line
    terminator); :mod:`flafka.config.migrate` rewrites text through them.
    """

    key: str
    value: str
    file: str
    line: int
    start: int = 0
    end: int = 0
    key_start: int = 0
    key_end: int = 0
    end_line: int = 0
    """Last physical line of the logical line (== ``line`` unless continued)."""


@dataclass(frozen=True)
class PropertiesProblem:
    """Something wrong or suspicious in the file text itself."""

    severity: str  # "error" | "warning"
    message: str
    file: str
    line: int
    key: str = ""
    suggestion: str = ""


@dataclass
class PropertiesFile:
    """A parsed file: every entry in file order, and what ``Properties`` would hold."""

    file: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[PropertiesProblem] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Entry]:
        """Key -> the entry that wins (the last one), in first-seen key order."""
        out: dict[str, Entry] = {}
        for entry in self.entries:
            out[entry.key] = entry
        return out

    @property
    def duplicates(self) -> list[tuple[Entry, Entry]]:
        """(earlier, later) pairs for every key set more than once; the later one wins."""
        seen: dict[str, Entry] = {}
        pairs: list[tuple[Entry, Entry]] = []
        for entry in self.entries:
            prior = seen.get(entry.key)
            if prior is not None:
                pairs.append((prior, entry))
            seen[entry.key] = entry
        return pairs

    def as_dict(self) -> dict[str, str]:
        """What ``java.util.Properties`` would hold after ``load``."""
        return {k: e.value for k, e in self.values.items()}


def natural_lines(text: str) -> list[tuple[int, int, str]]:
    """(line number, start offset, content without terminator) for each physical line."""
    lines: list[tuple[int, int, str]] = []
    pos = 0
    number = 1
    for match in _LINE_END.finditer(text):
        lines.append((number, pos, text[pos : match.start()]))
        pos = match.end()
        number += 1
    if pos < len(text):
        lines.append((number, pos, text[pos:]))
    return lines


def _odd_trailing_backslashes(text: str) -> bool:
    count = len(text) - len(text.rstrip("\\"))
    return count % 2 == 1


@dataclass
class _Logical:
    text: str
    line: int
    end_line: int
    # (index in ``text``, offset in the file) at the start of each physical segment
    segments: list[tuple[int, int]]
    end: int

    def offset(self, index: int) -> int:
        """File offset of ``text[index]`` (or just past the segment for index == len)."""
        starts = [s[0] for s in self.segments]
        k = bisect.bisect_right(starts, index) - 1
        seg_index, seg_offset = self.segments[max(k, 0)]
        return seg_offset + (index - seg_index)


def _logical_lines(text: str) -> Iterator[_Logical]:
    lines = natural_lines(text)
    i = 0
    while i < len(lines):
        number, offset, content = lines[i]
        stripped = content.lstrip(_BLANK)
        if not stripped or stripped[0] in "#!":
            i += 1
            continue
        start = offset + len(content) - len(stripped)
        buf = stripped
        segments = [(0, start)]
        end = offset + len(content)
        last = number
        while _odd_trailing_backslashes(buf):
            buf = buf[:-1]
            i += 1
            if i >= len(lines):
                break
            number2, offset2, content2 = lines[i]
            more = content2.lstrip(_BLANK)
            if not more:
                # a blank continued line ends the logical line (Java's LineReader)
                break
            segments.append((len(buf), offset2 + len(content2) - len(more)))
            buf += more
            end = offset2 + len(content2)
            last = number2
        i += 1
        if buf:
            yield _Logical(buf, number, last, segments, end)


def _split(line: str) -> tuple[int, int]:
    """Java's ``load0``: (end of the raw key, start of the raw value) in ``line``."""
    limit = len(line)
    key_len = 0
    value_start = limit
    has_sep = False
    preceding_backslash = False
    while key_len < limit:
        c = line[key_len]
        if c in "=:" and not preceding_backslash:
            value_start = key_len + 1
            has_sep = True
            break
        if c in _BLANK and not preceding_backslash:
            value_start = key_len + 1
            break
        preceding_backslash = (not preceding_backslash) if c == "\\" else False
        key_len += 1
    while value_start < limit:
        c = line[value_start]
        if c not in _BLANK:
            if not has_sep and c in "=:":
                has_sep = True
            else:
                break
        value_start += 1
    return key_len, value_start


class MalformedEscape(ValueError):
    """A ``\\u`` escape not followed by four hex digits (Java: "Malformed \\uxxxx encoding")."""


def unescape(raw: str) -> str:
    """Java's ``loadConvert``. Raises :class:`MalformedEscape` for a bad ``\\uXXXX``."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    n = len(raw)
    surrogates = False
    while i < n:
        c = raw[i]
        i += 1
        if c != "\\" or i >= n:
            out.append(c)
            continue
        c = raw[i]
        i += 1
        if c == "u":
            digits = raw[i : i + 4]
            if len(digits) < 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise MalformedEscape(f"malformed \\uXXXX escape '\\u{digits}'")
            code = int(digits, 16)
            surrogates = surrogates or 0xD800 <= code <= 0xDFFF
            out.append(chr(code))
            i += 4
        else:
            out.append(_ESCAPES.get(c, c))
    text = "".join(out)
    if surrogates:
        # \uD83D\uDE00 is one character in Java's UTF-16 strings: combine the pair
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return text


def parse_text(text: str, file: str = "<config>") -> PropertiesFile:
    """Parse properties ``text`` (already decoded) the way ``Properties.load`` does."""
    result = PropertiesFile(file)
    for logical in _logical_lines(text):
        key_len, value_start = _split(logical.text)
        raw_key = logical.text[:key_len]
        raw_value = logical.text[value_start:]
        try:
            key = unescape(raw_key)
            value = unescape(raw_value)
        except MalformedEscape as exc:
            result.problems.append(
                PropertiesProblem(
                    "error",
                    f"{exc}; Java stops reading the file here",
                    file,
                    logical.line,
                    raw_key,
                    "write \\u followed by exactly four hex digits (e.g. \\u00e9), or \\\\u for a literal backslash-u",
                )
            )
            continue
        result.entries.append(
            Entry(
                key=key,
                value=value,
                file=file,
                line=logical.line,
                start=logical.segments[0][1],
                end=logical.end,
                key_start=logical.segments[0][1],
                key_end=logical.offset(key_len) if key_len < len(logical.text) else logical.end,
                end_line=logical.end_line,
            )
        )
    return result


def decode(data: bytes, file: str) -> tuple[str, list[PropertiesProblem]]:
    """Bytes of a file -> text: UTF-8 (BOM ignored), else ISO-8859-1 with a warning."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = PropertiesProblem(
            "warning",
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "read as ISO-8859-1 like Java's Properties.load",
            file,
            line,
            suggestion="save the file as UTF-8, or write non-ASCII characters as \\uXXXX escapes",
        )
        return data.decode("iso-8859-1"), [problem]


MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest config file read (64 MiB); a bigger one is refused, never read into memory."""


class NotAConfigFile(OSError):
    """The path is not a regular file (a FIFO, socket or device would block or never end),
    or it is larger than :data:`MAX_FILE_BYTES`."""


def read_config_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`. Opening does not
    block on a FIFO (``O_NONBLOCK``); raises :class:`NotAConfigFile` or another OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket or device"
            raise NotAConfigFile(f"'{path}' is {kind}, not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise NotAConfigFile(f"'{path}' is {st.st_size:,} bytes; config files are read up to {MAX_FILE_BYTES:,} bytes")
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            return fh.read(MAX_FILE_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)


def parse_file(path: str | Path) -> PropertiesFile:
    """Read and parse one file. Raises OSError when it cannot be read (NotAConfigFile for
    a FIFO, socket, device or an oversized file)."""
    name = str(path)
    text, problems = decode(read_config_bytes(path), name)
    result = parse_text(text, name)
    result.problems[:0] = problems
    return result


def escape(text: str, *, is_key: bool) -> str:
    """Java's ``Properties.saveConvert`` (without \\u-escaping non-ASCII): text that
    :func:`parse_text` reads back unchanged as a key (``is_key``) or a value."""
    out: list[str] = []
    for i, c in enumerate(text):
        if c == " ":
            out.append("\\ " if (i == 0 or is_key) else " ")
        elif c in "\\=:#!":
            out.append("\\" + c)
        elif c == "\t":
            out.append("\\t")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\f":
            out.append("\\f")
        elif ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)

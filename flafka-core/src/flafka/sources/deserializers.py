"""Event deserializers of the spooling directory source: ``LINE``, ``BLOB`` and ``AVRO``.

A deserializer turns the bytes of one open file into event bodies, batch by batch, and
always knows the exact byte offset in the file just after the last body it returned
(:attr:`offset`) and how many whole lines lie before it (:attr:`line`). The source
commits those numbers once the batch is delivered and reopens the file there after a
crash, so a resume is byte-exact.

LINE follows Flume's ``LineDeserializer``: lines end at ``\\n``; ``\\r`` is kept; an
empty line is an empty event; a last line without ``\\n`` is an event. A line longer than
``maxLineLength`` *characters* is cut into pieces of ``maxLineLength`` characters, each
piece one event (Flume does the same but logs it as "truncating"). Unlike Flume, a line of
exactly ``maxLineLength`` characters is not followed by a spurious empty event. Every cut
is counted (:attr:`LineDeserializer.cuts`) so the source can report it.

Fast path: when input and output charsets are both UTF-8 the file is read in large
chunks, split on ``b"\\n"`` and the raw line bytes become the bodies (the chunk is
validated first: ASCII by ``bytes.isascii``, otherwise by a strict UTF-8 decode). A chunk
with invalid bytes or over-long lines, and every chunk of another charset, takes the
per-line path, which decodes each line with ``decodeErrorPolicy`` and re-encodes it.
"""

from __future__ import annotations

import codecs
import io
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

CHUNK_SIZE = 1 << 19
"""Bytes read from the file per ``read`` system call (512 KiB: as fast as 2 MiB here, less memory)."""


class DecodeFailure(Exception):
    """A line could not be decoded and ``decodeErrorPolicy = FAIL``. ``line`` is 1-based;
    ``offset`` is the byte offset in the file of the first bad byte."""

    def __init__(self, line: int, offset: int, detail: str) -> None:
        super().__init__(f"line {line}, byte offset {offset}: {detail}")
        self.line = line
        self.offset = offset
        self.detail = detail


class CorruptInput(Exception):
    """The file is not in the deserializer's format (or is cut short): ``detail`` says what,
    ``where`` where (record, byte offset), ``fix`` what to do."""

    def __init__(self, detail: str, where: str, fix: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.detail = detail
        self.where = where
        self.fix = fix


class Deserializer(Protocol):
    """What the source needs from a deserializer."""

    offset: int
    line: int
    cuts: int
    first_cut: tuple[int, int] | None
    repaired: int
    first_repair: tuple[int, int] | None

    def read(self, max_events: int) -> list[bytes]:
        """Up to ``max_events`` bodies ([] at the end). Raises :class:`DecodeFailure`
        (after first returning every body before the bad line)."""
        ...

    def at_eof(self) -> bool:
        """True when :meth:`read` will return nothing more (may read ahead one chunk)."""
        ...


def is_utf8(charset: str) -> bool:
    return codecs.lookup(charset).name == "utf-8"


def ascii_compatible(charset: str) -> bool:
    """True when the charset writes ``\\n`` as the single byte 0x0A (needed to split lines
    on bytes). UTF-16 and UTF-32 are not."""
    try:
        return "a\n".encode(charset) == b"a\n"
    except (LookupError, UnicodeError):
        return False


_ERRORS = {"FAIL": "strict", "REPLACE": "replace", "IGNORE": "ignore"}


class LineDeserializer:
    """Lines of one file (see the module docstring). ``fileobj`` is an unbuffered binary
    file positioned at ``offset``; ``line`` is the number of whole lines before it."""

    def __init__(
        self,
        fileobj: BinaryIO,
        *,
        offset: int = 0,
        line: int = 0,
        max_line_length: int = 2048,
        input_charset: str = "UTF-8",
        output_charset: str = "UTF-8",
        decode_error_policy: str = "FAIL",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._f = fileobj
        self.offset = offset
        self.line = line
        self._max = max_line_length
        self._in = codecs.lookup(input_charset).name
        self._out = codecs.lookup(output_charset).name
        self._errors = _ERRORS[decode_error_policy]
        self._same_utf8 = self._in == "utf-8" and self._out == "utf-8"
        self._chunk = chunk_size
        self.cuts = 0
        self.first_cut: tuple[int, int] | None = None
        self.repaired = 0
        self.first_repair: tuple[int, int] | None = None
        # bodies not yet returned: _lines[_i:]; in the fast path each is one whole line
        # followed by b"\n" (except a final line at EOF when _tail_no_nl); in the per-line
        # path _ends/_lns give the offset and line count after each body.
        self._lines: list[bytes] = []
        self._lens: list[int] | None = None  # fast path: the byte length of each of _lines, when known
        self._i = 0
        self._tail_no_nl = False
        self._ends: list[int] | None = None
        self._lns: list[int] | None = None
        self._parts: list[bytes] = []  # a partial line read from the file, not yet split
        self._parts_len = 0
        # a partial line longer than this many bytes has its complete maxLineLength pieces
        # emitted before its end is found (bounded memory for a file without newlines)
        self._spill_at = max(chunk_size, 8 * max_line_length)
        self._long_line = False  # pieces of the current (unfinished) line were emitted
        self._line_repaired = False  # the current (unfinished) line's repair was counted
        # the decoded runs of the buffered partial line, so each spill decodes only new bytes
        self._spill_runs: list[tuple[str, int, bool]] = []
        self._spill_decoded = 0  # bytes of _parts those runs cover
        self._spill_chars = 0  # characters in them
        self._spill_bad: int | None = None  # byte offset of their first undecodable unit
        self._split_line = line  # whole lines split so far (line number base of the next chunk)
        self._split_pos = offset  # file offset of the start of _parts
        self._eof = False
        self._failure: DecodeFailure | None = None

    # -- reading -------------------------------------------------------------------------
    def read(self, max_events: int) -> list[bytes]:
        if self._i >= len(self._lines) and not self._fill():
            if self._failure is not None:
                raise self._failure
            return []
        i = self._i
        j = min(i + max_events, len(self._lines))
        out = self._lines[i:j]
        self._i = j
        if self._ends is None:
            n = j - i
            lens = self._lens
            nbytes = (sum(map(len, out)) if lens is None else sum(lens[i:j])) + n
            if j == len(self._lines) and self._tail_no_nl:
                nbytes -= 1
            self.offset += nbytes
            self.line += n
        else:
            assert self._lns is not None
            self.offset = self._ends[j - 1]
            self.line = self._lns[j - 1]
        return out

    def at_eof(self) -> bool:
        if self._i < len(self._lines):
            return False
        return not self._fill() and self._failure is None

    def _fill(self) -> bool:
        """Split more of the file into bodies; False when there is nothing more."""
        while True:
            if self._failure is not None:
                return False
            if self._eof:
                return False
            data = self._f.read(self._chunk)
            if not data:
                self._eof = True
                complete = b"".join(self._parts)
                self._parts = []
                self._parts_len = 0
                if not complete:
                    return False
                parts = complete.split(b"\n")
                ends_nl = not parts[-1]
                if ends_nl:
                    parts.pop()
                self._split(parts, ends_nl, len(complete), complete)
            else:
                cut = data.rfind(b"\n")
                if cut < 0:
                    self._parts.append(data)  # a partial line: keep reading
                    self._parts_len += len(data)
                    if self._parts_len > self._spill_at and self._emit_long_line_pieces():
                        return True
                    continue
                # split the chunk as read (no copy of it): the carried partial line joins
                # its first line, the bytes after its last newline are carried on
                parts = data.split(b"\n")
                tail = parts.pop()
                nbytes = self._parts_len + cut + 1
                ascii_ = data.isascii()
                if self._parts:
                    head = b"".join(self._parts)
                    ascii_ = ascii_ and head.isascii()
                    parts[0] = head + parts[0]
                self._parts = [tail] if tail else []
                self._parts_len = len(tail)
                self._split(parts, True, nbytes, None, ascii_)
            if self._i < len(self._lines):
                return True

    def _emit_long_line_pieces(self) -> bool:
        """The buffered partial line is longer than ``_spill_at`` bytes: make its complete
        maxLineLength-character pieces the next bodies now (the cut Flume makes too),
        keeping at least one character back, so a file without newlines never sits whole
        in memory. Undecodable bytes are replaced or dropped here as ``decodeErrorPolicy``
        says (FAIL fails at once), so the buffer stays bounded and is decoded once, never
        re-walked per chunk. False (keep buffering) when nothing can be emitted yet."""
        raw = b"".join(self._parts)
        line_no = self._split_line + 1
        start = self._spill_decoded  # bytes decoded by earlier calls: never decoded again
        try:
            more, decoded = _decode_runs(raw[start:], self._in, self._errors, final=False)
        except UnicodeDecodeError as exc:  # FAIL
            self._parts = [raw]
            at = start + exc.start
            self._failure = DecodeFailure(
                line_no, self._split_pos + at, f"bytes not valid {self._in} ({exc.reason}: {raw[at : start + exc.end]!r})"
            )
            return False
        runs = self._spill_runs
        at = start
        for run in more:
            piece, nbytes, clean = run
            if not clean and self._spill_bad is None:
                self._spill_bad = at
            if not piece and not clean and runs and not runs[-1][0] and not runs[-1][2]:
                runs[-1] = ("", runs[-1][1] + nbytes, False)  # dropped bytes (IGNORE): one run, however many
            else:
                runs.append(run)
            self._spill_chars += len(piece)
            at += nbytes
        self._spill_decoded = start + decoded
        bad = self._spill_bad
        if bad is not None and not self._line_repaired:
            self._line_repaired = True
            self.repaired += 1
            if self.first_repair is None:
                self.first_repair = (line_no, self._split_pos + bad)
        self._parts = [raw]
        if (self._spill_chars - 1) // self._max <= 0:
            return False  # not a whole piece yet: keep buffering (what is decoded stays decoded)
        text = "".join(t for t, _n, _c in runs)
        limit = self._max
        n = (len(text) - 1) // limit
        if n <= 0:
            self._parts = [raw]
            return False
        if not self._long_line:
            self._long_line = True
            self.cuts += 1
            if self.first_cut is None:
                self.first_cut = (line_no, len(text))  # at least that long: its end is not read yet
        cuts = _run_piece_ends(runs, limit, self._in, n)
        bodies: list[bytes] = []
        same = self._in == self._out
        for k in range(n):
            piece = text[k * limit : (k + 1) * limit]
            bodies.append(piece.encode(self._in) if same and bad is None else piece.encode(self._out, "replace"))
        consumed = cuts[-1]
        self._reset_spill()
        self._parts = [raw[consumed:]]
        self._parts_len = len(raw) - consumed
        base = self._split_pos
        self._split_pos = base + consumed
        self._lines, self._ends, self._lns = bodies, [base + c for c in cuts], [line_no - 1] * n
        self._i = 0
        self._tail_no_nl = False
        return True

    def _reset_spill(self) -> None:
        self._spill_runs = []
        self._spill_decoded = self._spill_chars = 0
        self._spill_bad = None

    def _split(self, parts: list[bytes], ends_nl: bool, nbytes: int, complete: bytes | None, ascii_: bool = False) -> None:
        """Make ``parts`` (the whole lines of the next ``nbytes`` bytes of the file, without
        their newlines; the last one without a newline unless ``ends_nl``) the next bodies.
        ``complete``: those bytes, when at hand; ``ascii_``: they are known to be ASCII."""
        continued = self._long_line  # the first part ends a line whose pieces went out already
        self._long_line = False
        counted = self._line_repaired  # that line's repair was counted when its pieces went out
        self._line_repaired = False
        self._reset_spill()
        base_pos, base_line = self._split_pos, self._split_line
        self._split_pos += nbytes
        self._split_line += len(parts)
        self._i = 0
        lens = None
        if self._same_utf8 and (nbytes <= self._max or max(lens := list(map(len, parts))) <= self._max):
            valid = ascii_
            if not valid:
                if complete is None:
                    complete = b"\n".join(parts)
                valid = complete.isascii()
                if not valid:
                    try:
                        complete.decode("utf-8")
                        valid = True
                    except UnicodeDecodeError:
                        pass
            if valid:
                self._lines = parts
                self._lens = lens
                self._tail_no_nl = not ends_nl
                self._ends = self._lns = None
                return
        self._slow(parts, ends_nl, base_pos, base_line, continued, counted)

    def _slow(self, parts: list[bytes], ends_nl: bool, pos: int, line: int, continued: bool = False, counted: bool = False) -> None:
        """The per-line path: decode with the error policy, cut long lines, re-encode."""
        bodies: list[bytes] = []
        ends: list[int] = []
        lns: list[int] = []
        cs, out_cs, errors, limit = self._in, self._out, self._errors, self._max
        last = len(parts) - 1
        for idx, raw in enumerate(parts):
            nl = 1 if (idx < last or ends_nl) else 0
            line_no = line + idx + 1
            clean = True
            try:
                text = raw.decode(cs)
            except UnicodeDecodeError as exc:
                if errors == "strict":
                    self._failure = DecodeFailure(
                        line_no, pos + exc.start, f"bytes not valid {cs} ({exc.reason}: {raw[exc.start : exc.end]!r})"
                    )
                    break
                text = raw.decode(cs, errors)
                clean = False
                if not (counted and idx == 0):
                    self.repaired += 1
                if self.first_repair is None:
                    self.first_repair = (line_no, pos + exc.start)
            if len(text) <= limit:
                bodies.append(raw if (clean and self._same_utf8) else text.encode(out_cs, "replace"))
                pos += len(raw) + nl
                ends.append(pos)
                lns.append(line_no)
                continue
            if not (continued and idx == 0):  # that line was counted when its first pieces went out
                self.cuts += 1
            if self.first_cut is None:
                self.first_cut = (line_no, len(text))
            cuts = _piece_ends(raw, text, limit, cs, errors, clean)
            npieces = len(cuts) + 1
            for k in range(npieces):
                bodies.append(text[k * limit : (k + 1) * limit].encode(out_cs, "replace"))
                if k < npieces - 1:
                    ends.append(pos + cuts[k])
                    lns.append(line_no - 1)
                else:
                    ends.append(pos + len(raw) + nl)
                    lns.append(line_no)
            pos += len(raw) + nl
        self._lines, self._ends, self._lns = bodies, ends, lns
        self._tail_no_nl = False


def _decode_runs(raw: bytes, cs: str, errors: str, final: bool) -> tuple[list[tuple[str, int, bool]], int]:
    """Decode ``raw`` into runs ``(text, bytes, clean)``: clean runs decode exactly, and
    each undecodable unit the codec reports is one run of its bytes replaced (U+FFFD) or
    dropped per ``errors`` — the text Python's ``raw.decode(cs, errors)`` gives, with the
    byte length behind every character known (consecutive dropped units may share one
    run). Not ``final``: an unfinished sequence at the end is left out (the second value
    is the bytes decoded). ``errors = "strict"`` raises the first UnicodeDecodeError,
    positions relative to ``raw``. Linear in ``len(raw)``; UTF-8 in one decode call."""
    if cs == "utf-8" and errors != "strict":
        return _decode_runs_utf8(raw, errors, final)
    return _decode_runs_restarting(raw, cs, errors, final)


def _decode_runs_restarting(raw: bytes, cs: str, errors: str, final: bool) -> tuple[list[tuple[str, int, bool]], int]:
    """:func:`_decode_runs` for any codec: a fresh strict decoder after each undecodable
    unit (a few µs per unit)."""
    runs: list[tuple[str, int, bool]] = []
    view = memoryview(raw)
    pos, n = 0, len(raw)
    while pos < n:
        dec = codecs.getincrementaldecoder(cs)("strict")
        try:
            text = dec.decode(view[pos:], final)
        except UnicodeDecodeError as exc:
            if errors == "strict":
                raise UnicodeDecodeError(exc.encoding, raw, pos + exc.start, pos + exc.end, exc.reason) from None
            if exc.start:
                runs.append((bytes(view[pos : pos + exc.start]).decode(cs), exc.start, True))
            runs.append(("\ufffd" if errors == "replace" else "", exc.end - exc.start, False))
            pos += exc.end
            continue
        used = n - pos - (0 if final else len(dec.getstate()[0]))
        if used:
            runs.append((text, used, True))
        pos += used
        break
    return runs, pos


_MARK = "\ud800"
"""What the span-recording error handler puts for an undecodable unit: a lone surrogate,
which strict UTF-8 decoding never produces, so splitting on it finds the clean text."""
_spans = threading.local()


def _record_span(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    _spans.list.append((exc.start, exc.end))
    return _MARK, exc.end


codecs.register_error("flafka-record-spans", _record_span)


def _decode_runs_utf8(raw: bytes, errors: str, final: bool) -> tuple[list[tuple[str, int, bool]], int]:
    """:func:`_decode_runs` for UTF-8 in one decode call: an error handler records each
    undecodable unit's span and leaves a mark, and the text between marks is the clean
    runs. The same units as a fresh decoder after each error (UTF-8 has no state beyond
    an unfinished sequence), at a Python call per unit instead of a decoder and an
    exception."""
    spans: list[tuple[int, int]] = []
    _spans.list = spans
    try:
        dec = codecs.getincrementaldecoder("utf-8")("flafka-record-spans")
        text = dec.decode(raw, final)
        used = len(raw) - (0 if final else len(dec.getstate()[0]))
    finally:
        _spans.list = None
    if not spans:
        return ([(text, used, True)] if used else []), used
    segs = text.split(_MARK)
    replaced = "\ufffd" if errors == "replace" else ""
    runs: list[tuple[str, int, bool]] = []
    append = runs.append
    at = 0
    merge = not replaced
    for k, (start, end) in enumerate(spans):
        if start > at:
            append((segs[k], start - at, True))
        elif merge and runs and not runs[-1][2]:  # dropped bytes right after dropped bytes: one run
            runs[-1] = ("", runs[-1][1] + end - start, False)
            at = end
            continue
        append((replaced, end - start, False))
        at = end
    if used > at:
        append((segs[-1], used - at, True))
    return runs, used


def _run_starts(runs: list[tuple[str, int, bool]]) -> list[tuple[int, tuple[str, int, bool]]]:
    """``(byte offset, run)`` for each run."""
    out, at = [], 0
    for run in runs:
        out.append((at, run))
        at += run[1]
    return out


def _run_piece_ends(runs: list[tuple[str, int, bool]], limit: int, cs: str, n_full: int) -> list[int]:
    """Byte offsets after each of the first ``n_full`` pieces of ``limit`` characters of the
    runs' text (one pass; inside a clean run, the bytes of the characters before)."""
    ends: list[int] = []
    chars = 0  # characters before the current run
    at = 0  # bytes before the current run
    target = limit
    for text, nbytes, _clean in runs:
        length = len(text)
        k_prev, b_prev = 0, 0  # inside this run: characters and bytes already accounted for
        while len(ends) < n_full and chars + length >= target:
            k = target - chars
            if k == length:
                b_prev = nbytes
            else:
                b_prev += len(text[k_prev:k].encode(cs))
            k_prev = k
            ends.append(at + b_prev)
            target += limit
        if len(ends) == n_full:
            break
        chars += length
        at += nbytes
    while len(ends) < n_full:  # defensive: never lose offsets
        ends.append(at)
    return ends


def _piece_ends(raw: bytes, text: str, limit: int, cs: str, errors: str, clean: bool) -> list[int]:
    """Byte offsets within ``raw`` after each full piece of ``limit`` characters of
    ``text`` (not after the last piece)."""
    n_full = (len(text) - 1) // limit
    if clean:
        ends: list[int] = []
        at = 0
        for k in range(n_full):
            at += len(text[k * limit : (k + 1) * limit].encode(cs))
            ends.append(at)
        return ends
    runs, _ = _decode_runs(raw, cs, errors, final=True)
    return _run_piece_ends(runs, limit, cs, n_full)


class BlobDeserializer:
    """The whole file as one event (Flume's ``BlobDeserializer``); a file longer than
    ``maxBlobLength`` bytes becomes several events of at most that size, one per batch.
    An empty file gives no event."""

    def __init__(self, fileobj: BinaryIO, *, offset: int = 0, line: int = 0, max_blob_length: int = 100_000_000) -> None:
        self._f = fileobj
        self.offset = offset
        self.line = line  # events returned so far
        self._max = max_blob_length
        self._next: bytes | None = None
        self._eof = False
        self.cuts = 0
        self.first_cut: tuple[int, int] | None = None
        self.repaired = 0
        self.first_repair: tuple[int, int] | None = None

    def _read_blob(self) -> bytes:
        parts: list[bytes] = []
        want = self._max
        while want > 0:
            data = self._f.read(min(want, CHUNK_SIZE * 8))
            if not data:
                self._eof = True
                break
            parts.append(data)
            want -= len(data)
        return b"".join(parts)

    def _peek(self) -> bytes:
        if self._next is None:
            self._next = b"" if self._eof else self._read_blob()
        return self._next

    def read(self, max_events: int) -> list[bytes]:
        blob = self._peek()
        self._next = None
        if not blob:
            return []
        if len(blob) == self._max and not self.at_eof():
            self.cuts += 1
            if self.first_cut is None:
                self.first_cut = (self.line + 1, len(blob))
        self.offset += len(blob)
        self.line += 1
        return [blob]

    def at_eof(self) -> bool:
        return not self._peek()


class _KeepOpen(io.BufferedReader):
    """A read buffer over the source's file that never closes it (the source owns it)."""

    def close(self) -> None:
        pass


class AvroDeserializer:
    """Flume's ``AvroEventDeserializer``: one event per record of an Avro object container
    file; the body is the record's binary datum exactly as stored (Flume re-encodes the
    record it read, which gives these bytes), and every event carries the header
    ``flume.avro.schema.hash`` (the schema's CRC-64-AVRO fingerprint of its parsing
    canonical form, hex, as Flume) or, with ``schema_type = "LITERAL"``,
    ``flume.avro.schema.literal`` (the schema text of the file's header). Read with fastavro.

    Position: :attr:`line` counts the records returned so far and :attr:`offset` is the byte
    offset of the block holding the next record (the file's end after the last one). A
    resume at ``line = n`` skips exactly ``n`` records (whole blocks by their record counts,
    then records inside the block), so a restart neither re-reads nor skips a record;
    Flume resumes at the block's start and sends that block's earlier records again.
    """

    HASH_HEADER = "flume.avro.schema.hash"
    LITERAL_HEADER = "flume.avro.schema.literal"

    def __init__(self, fileobj: BinaryIO, *, offset: int = 0, line: int = 0, schema_type: str = "HASH") -> None:
        self._raw = fileobj
        self.offset = offset
        self.line = line
        self._skip = line
        self._literal = schema_type.upper() == "LITERAL"
        self.headers: dict[str, str] = {}
        """Headers of every event of this file (known once the file header is read)."""
        self.cuts = 0
        self.first_cut: tuple[int, int] | None = None
        self.repaired = 0
        self.first_repair: tuple[int, int] | None = None
        self._fo: _KeepOpen | None = None
        self._blocks: Iterator[Any] | None = None
        self._schema: Any = None
        self._read_datum: Any = None
        self._block_data: io.BytesIO | None = None
        self._block_left = 0
        self._block_end = 0
        self._pos = 0
        self._eof = False

    def _where(self) -> str:
        return f"record {self.line + 1}, block at byte offset {self.offset}"

    def _open(self) -> None:
        from flafka.serializers.avro import require_fastavro

        fastavro = require_fastavro("deserializer = AVRO")
        self._raw.seek(0)
        fo = _KeepOpen(self._raw, 1 << 20)  # type: ignore[arg-type]
        try:
            reader = fastavro.block_reader(fo)
        except Exception as exc:
            raise CorruptInput(
                f"not an Avro object container file ({exc})",
                "byte offset 0",
                "spool only Avro container files with deserializer = AVRO (or use LINE/BLOB for this directory)",
            ) from exc
        self._fo = fo
        self._schema = reader.writer_schema
        self._read_datum = fastavro.schemaless_reader
        text = reader.metadata.get("avro.schema", "")
        if self._literal:
            self.headers = {self.LITERAL_HEADER: text}
        else:
            canonical = fastavro.schema.to_parsing_canonical_form(self._schema)
            self.headers = {self.HASH_HEADER: fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")}
        self._blocks = iter(reader)
        self._pos = fo.tell()
        if self.offset == 0:
            self.offset = self._pos

    def _next_block(self) -> bool:
        """Load the next block that still has records to return; False at the end."""
        assert self._blocks is not None and self._fo is not None
        while True:
            start = self._pos
            try:
                block = next(self._blocks)
            except StopIteration:
                self._eof = True
                self.offset = self._pos
                return False
            except Exception as exc:
                raise CorruptInput(
                    f"the Avro block cannot be read ({type(exc).__name__}: {exc}); the file is damaged or cut short",
                    f"record {self.line + 1}, block at byte offset {start}",
                    "re-create the file from its source and move it back into spoolDir",
                ) from exc
            self._pos = self._fo.tell()
            n = block.num_records
            if self._skip >= n:  # delivered before the restart
                self._skip -= n
                continue
            self.offset = start
            self._block_end = self._pos
            self._block_data = block.bytes_
            self._block_left = n
            if self._skip:
                self._take(self._skip)
                self._skip = 0
            return True

    def _take(self, n: int) -> list[bytes]:
        data = self._block_data
        assert data is not None
        raw = data.getbuffer()
        read, schema = self._read_datum, self._schema
        out: list[bytes] = []
        at = data.tell()
        try:
            for _ in range(n):
                read(data, schema, None)
                end = data.tell()
                out.append(bytes(raw[at:end]))
                at = end
        except Exception as exc:
            raise CorruptInput(
                f"a record cannot be decoded with the file's schema ({type(exc).__name__}: {exc}); the block is damaged",
                self._where(),
                "re-create the file from its source and move it back into spoolDir",
            ) from exc
        finally:
            del raw
        self._block_left -= n
        return out

    def read(self, max_events: int) -> list[bytes]:
        if self._blocks is None:
            self._open()
        out: list[bytes] = []
        while len(out) < max_events:
            if self._block_left == 0 and (self._eof or not self._next_block()):
                break
            got = self._take(min(max_events - len(out), self._block_left))
            self.line += len(got)
            out += got
        if self._block_left == 0 and self._block_data is not None:
            self.offset = self._block_end  # the block is used up: the next one starts here
        return out

    def at_eof(self) -> bool:
        if self._blocks is None:
            self._open()
        if self._block_left:
            return False
        if self._eof:
            return True
        return not self._next_block()

"""Whole-batch encoder and decoder of ``array<AvroFlumeEvent>``, the parameter of
``appendBatch`` (schema ``record AvroFlumeEvent { map<string> headers; bytes body; }``).

The schema is fixed, so a batch is encoded and decoded in one loop over the events with
no per-record dicts (fastavro builds ``{"headers": ..., "body": ...}`` for each event
and walks its schema per field). :func:`encode_events` is byte-identical to fastavro's
``schemaless_writer`` for every valid batch (property-tested): one array block with the
event count, each map as one block (``count, (key, value)*, 0``; an empty map is the
single byte ``0``) in the dict's order, every length a zig-zag varint. Strings that
repeat within a batch (header names, a host, a timestamp of the same millisecond) are
encoded once per batch.

:func:`decode_events` reads what any Avro writer produces with positive block counts
(any number of blocks, Java's ``BinaryEncoder`` writes one); a negative block count
(Java's ``BlockingBinaryEncoder``) makes it return None so the caller uses fastavro's
general reader. Malformed input raises :class:`~flafka_avro.protocol.ProtocolError`
(never anything else), as fastavro's reader does through the protocol module.

:func:`encode_batch` and :func:`decode_batch` do the same for column-wise
:class:`~flafka.batch.Batch` objects (issue 15) without an ``Event`` per record: the
encoding reads the bodies and header maps (a map object shared by consecutive events is
encoded once; bytes identical to encoding the batch's events), the decoding returns the
bodies with no headers, one ``common`` map, or a header column.
"""

from __future__ import annotations

from itertools import repeat
from operator import is_

from flafka.batch import AnyBatch, Batch, HeaderMap, as_events, bodies_of, has_headers, header_maps_of
from flafka.event import Event

__all__ = ["DecodeError", "EncodeError", "decode_batch", "decode_events", "encode_batch", "encode_events", "problem", "varint"]


class EncodeError(ValueError):
    """An event that the schema cannot carry (a header that is not a string, a string that
    is not valid Unicode, a body that is not bytes). ``index`` is its position in the
    batch; ``str`` says what is wrong."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class DecodeError(ValueError):
    """Malformed ``array<AvroFlumeEvent>`` bytes; ``str`` says what was wrong."""


def varint(n: int) -> bytes:
    """Avro ``long`` (zig-zag, base-128 varint, low group first) of ``n``."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = 4096
#: ``varint(n)`` for small n (counts and lengths).
_LONG = [varint(n) for n in range(_SMALL)]
#: An event's tail after its headers: the end of its map (``0``) and its body length.
_END_LEN = [b"\x00" + varint(n) for n in range(_SMALL)]


def _encode_string(s: object) -> bytes:
    """Length-prefixed UTF-8 of ``s``; TypeError/UnicodeEncodeError for a non-string."""
    if type(s) is not str:
        raise TypeError(f"a header name or value is {type(s).__name__}, not str")
    raw = s.encode("utf-8")
    n = len(raw)
    return (_LONG[n] if n < _SMALL else varint(n)) + raw


def encode_events(events: list[Event], head: bytes = b"") -> bytes:
    """``head`` followed by the encoding of the event array. Raises :class:`EncodeError`
    naming the first event the schema cannot carry."""
    parts = [head]
    try:
        _encode_into(events, parts)
        return b"".join(parts)  # a body that is not bytes-like fails here
    except (TypeError, ValueError, AttributeError) as exc:
        index, why = _first_bad(events)
        raise EncodeError(index, why or f"the batch cannot be encoded ({exc})") from None


def encode_batch(batch: AnyBatch, head: bytes = b"") -> bytes:
    """:func:`encode_events` of any batch (the same bytes as for ``as_events(batch)``),
    straight from a column-wise :class:`~flafka.batch.Batch`'s bodies and header maps
    (a map shared by consecutive events, e.g. the batch's ``common`` one, is encoded
    once), building no ``Event``. Raises :class:`EncodeError` as :func:`encode_events`."""
    if type(batch) is list or not isinstance(batch, Batch) or not batch.columnar:
        return encode_events(as_events(batch), head)
    parts = [head]
    try:
        if has_headers(batch):
            _encode_columns(bodies_of(batch), header_maps_of(batch), parts)
        else:
            _encode_bodies(bodies_of(batch), parts)
        return b"".join(parts)
    except (TypeError, ValueError, AttributeError) as exc:
        events = batch.events()  # only to name the culprit
        index, why = _first_bad(events)
        raise EncodeError(index, why or f"the batch cannot be encoded ({exc})") from None


def _count(n: int) -> bytes:
    return _LONG[n] if n < _SMALL else varint(n)


def _lengths(bodies: list[bytes]) -> list[bytes]:
    """Per body: ``0`` (the end of its header map) and its length."""
    try:
        return list(map(_END_LEN.__getitem__, map(len, bodies)))
    except IndexError:  # a body of 4096 bytes or more
        return [_END_LEN[size] if size < _SMALL else b"\x00" + varint(size) for size in map(len, bodies)]


def _encode_bodies(bodies: list[bytes], out: list[bytes]) -> None:
    """Events without headers: ``0`` (an empty map), the body's length, the body."""
    n = len(bodies)
    if not n:
        out.append(b"\x00")
        return
    out.append(_count(n))
    parts: list[bytes] = [b""] * (2 * n)
    parts[0::2] = _lengths(bodies)
    parts[1::2] = bodies
    out += parts
    out.append(b"\x00")


def _encode_columns(bodies: list[bytes], maps: list[HeaderMap | None], out: list[bytes]) -> None:
    """Events with header maps (one per body, None or empty for none); a map object
    repeated by consecutive events (a batch's common map) is encoded once."""
    n = len(bodies)
    if len(maps) != n:
        raise ValueError(f"{n} bodies but {len(maps)} header maps")
    if not n:
        out.append(b"\x00")
        return
    out.append(_count(n))
    strings: dict[str, bytes] = {}  # per batch: bounded by the batch
    first = maps[0]
    prefixes: list[bytes]
    if all(map(is_, maps, repeat(first))):  # one map object for all (the common map)
        prefixes = [_encode_map(first, strings) if first else b""] * n
    else:
        prefixes = []
        add = prefixes.append
        prev: HeaderMap | None = None
        encoded = b""
        for m in maps:
            if m is not prev:
                prev = m
                encoded = _encode_map(m, strings) if m else b""
            add(encoded)
    parts: list[bytes] = [b""] * (3 * n)
    parts[0::3] = prefixes
    parts[1::3] = _lengths(bodies)
    parts[2::3] = bodies
    out += parts
    out.append(b"\x00")


def _encode_map(headers: HeaderMap, strings: dict[str, bytes]) -> bytes:
    """A non-empty map's block (count, then name and value of each entry), without the
    terminating ``0``."""
    parts = [_count(len(headers))]
    get = strings.get
    for k, v in headers.items():
        ek = get(k)
        if ek is None:
            ek = strings[k] = _encode_string(k)
        ev = get(v)
        if ev is None:
            ev = strings[v] = _encode_string(v)
        parts.append(ek)
        parts.append(ev)
    return b"".join(parts)


def _encode_into(events: list[Event], out: list[bytes]) -> None:
    append = out.append
    n = len(events)
    if not n:
        append(b"\x00")
        return
    append(_LONG[n] if n < _SMALL else varint(n))
    small, end_len, longs = _SMALL, _END_LEN, _LONG
    strings: dict[str, bytes] = {}  # per batch: bounded by the batch
    get = strings.get
    for e in events:
        body = e.body
        if e.has_headers:
            headers = e.headers
            count = len(headers)
            append(longs[count] if count < small else varint(count))
            for k, v in headers.items():
                ek = get(k)
                if ek is None:
                    ek = strings[k] = _encode_string(k)
                ev = get(v)
                if ev is None:
                    ev = strings[v] = _encode_string(v)
                append(ek)
                append(ev)
        size = len(body)
        append(end_len[size] if size < small else b"\x00" + varint(size))
        append(body)
    append(b"\x00")


def _first_bad(events: list[Event]) -> tuple[int, str]:
    """(index, reason) of the first event the schema cannot carry; (0, "") if none."""
    for i, e in enumerate(events):
        why = problem(e)
        if why is not None:
            return i, f"event {i} of the batch has {why}"
    return 0, ""


def problem(event: Event) -> str | None:
    """Why the schema cannot carry ``event`` (e.g. "a header value of type int ('k'), not
    str"), or None when it can."""
    if not isinstance(event.body, bytes | bytearray | memoryview):
        return f"a body of type {type(event.body).__name__}, not bytes"
    if event.has_headers:
        for k, v in event.headers.items():
            for what, s in (("name", k), ("value", v)):
                if type(s) is not str:
                    return f"a header {what} of type {type(s).__name__} ({k!r}), not str"
                try:
                    s.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return f"a header {what} that is not valid Unicode ({k!r}: {exc.reason})"
    return None


# -- decoding ----------------------------------------------------------------------------


def _long_at(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``."""
    shift = n = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("cut short inside a number")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError("a number longer than 10 bytes")


def decode_events(data: bytes, pos: int) -> tuple[list[Event], int] | None:
    """The events of the array at ``data[pos:]`` and the position after it, or None when
    a block count is negative (left to fastavro). Raises :class:`DecodeError`. Every
    event owns its header dict."""
    got = decode_batch(data, pos)
    if got is None:
        return None
    batch, end = got
    return batch.events(), end


def decode_batch(data: bytes, pos: int) -> tuple[Batch, int] | None:
    """As :func:`decode_events`, but a column-wise :class:`~flafka.batch.Batch` and no
    ``Event`` per record: the bodies, and either no headers, one ``common`` map (every
    event's header map encoded identically, as the timestamp and host interceptors make
    them) or a header column in which equal consecutive maps are one shared dict."""
    try:
        got = _decode(data, pos)
    except IndexError:
        raise DecodeError("cut short") from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"a header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if got is None:
        return None
    bodies, maps, distinct, end = got
    if maps is None:
        return Batch(bodies), end
    if distinct == 1 and None not in maps:
        return Batch(bodies, None, maps[0]), end
    return Batch(bodies, maps), end


def _decode(data: bytes, pos: int) -> tuple[list[bytes], list[HeaderMap | None] | None, int, int] | None:
    """(bodies, header maps or None when no event has one, how many distinct map objects,
    end position); None for a negative block count."""
    end = len(data)
    bodies: list[bytes] = []
    add_body = bodies.append
    maps: list[HeaderMap | None] | None = None
    long_at = _long_at
    names: dict[bytes, str] = {}  # header names repeat: one str per batch
    last = b""  # the encoding of the previous event's (non-empty) header map
    last_headers: HeaderMap = {}
    distinct = 0
    fast = True
    while True:
        b = data[pos]
        if b < 0x80:
            count = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            count, pos = long_at(data, pos)
        if count == 0:
            return bodies, maps, distinct, pos
        if count < 0:
            return None
        i = 0
        while i < count:
            tried = i
            # A run of events laid out alike: the previous event's map bytes (or no map)
            # and a body shorter than 8192 bytes. Lengths past the end are caught by the
            # next read (IndexError: "cut short").
            if not fast:
                pass  # the previous run stopped at once: decode one event the general way
            elif maps is None:
                while i < count and data[pos] == 0:
                    b = data[pos + 1]
                    if b < 0x80:
                        if b & 1:
                            break
                        p = pos + 2
                        q = p + (b >> 1)
                    else:
                        c = data[pos + 2]
                        if c >= 0x80 or b & 1:
                            break
                        p = pos + 3
                        q = p + (((b & 0x7F) | (c << 7)) >> 1)
                    add_body(data[p:q])
                    pos = q
                    i += 1
            else:
                add_map = maps.append
                k = len(last)
                while i < count and data.startswith(last, pos):
                    b = data[pos + k]
                    if b < 0x80:
                        if b & 1:
                            break
                        p = pos + k + 1
                        q = p + (b >> 1)
                    else:
                        c = data[pos + k + 1]
                        if c >= 0x80 or b & 1:
                            break
                        p = pos + k + 2
                        q = p + (((b & 0x7F) | (c << 7)) >> 1)
                    add_body(data[p:q])
                    add_map(last_headers)
                    pos = q
                    i += 1
            if i == count:
                break
            fast = i != tried  # a run that did not even start: stop trying until a map repeats
            b = data[pos]
            if b == 0:  # no headers
                if maps is not None:
                    maps.append(None)
                else:
                    fast = True
                pos += 1
            else:
                if maps is None:
                    maps = [None] * len(bodies)
                if last and data.startswith(last, pos):
                    # the same bytes as the previous event's map decode to the same map
                    maps.append(last_headers)
                    pos += len(last)
                    fast = True
                else:
                    start = pos
                    headers: HeaderMap = {}
                    while True:
                        if b < 0x80:
                            m = (b >> 1) ^ -(b & 1)
                            pos += 1
                        else:
                            m, pos = long_at(data, pos)
                        if m == 0:
                            break
                        if m < 0:
                            return None
                        for _ in range(m):
                            b = data[pos]
                            if b < 0x80:
                                n = (b >> 1) ^ -(b & 1)
                                pos += 1
                            else:
                                n, pos = long_at(data, pos)
                            q = pos + n
                            if n < 0 or q > end:
                                raise DecodeError(f"a header name of {n} bytes does not fit")
                            raw = data[pos:q]
                            key = names.get(raw)
                            if key is None:
                                key = names[raw] = raw.decode("utf-8")
                            b = data[q]
                            if b < 0x80:
                                n = (b >> 1) ^ -(b & 1)
                                pos = q + 1
                            else:
                                n, pos = long_at(data, q)
                            q = pos + n
                            if n < 0 or q > end:
                                raise DecodeError(f"a header value of {n} bytes does not fit")
                            headers[key] = data[pos:q].decode("utf-8")
                            pos = q
                        b = data[pos]
                    last = data[start:pos]
                    last_headers = headers
                    distinct += 1
                    maps.append(headers)
            b = data[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = long_at(data, pos)
            q = pos + n
            if n < 0 or q > end:
                raise DecodeError(f"a body of {n} bytes does not fit")
            add_body(data[pos:q])
            pos = q
            i += 1

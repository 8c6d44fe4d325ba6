"""Property: the LINE deserializer (chunks split as read, the carried partial line joined
to the next chunk's first line) gives Flume's line semantics on random bytes, random
chunk sizes and line lengths, input and output charsets and error policies: the bodies
of a per-line reference, and exact offsets (a restart at every batch boundary reads the
same bodies)."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.deserializers import DecodeFailure, LineDeserializer

EXAMPLES = int(os.environ.get("FLAFKA_HYPOTHESIS_EXAMPLES", "300"))

atoms = st.sampled_from(
    [b"a", b"bc", b"\n", b"\r\n", b"\n\n", b"\xc3\xa9", b"\xe6\x97\xa5", b"\xf0\x9f\x98\x80", b"\xff", b"\x80", b"\xc3", b"x" * 40]
)


def reference(data: bytes, limit: int, cs: str, out: str, errors: str) -> list[bytes]:
    """One line at a time: decode, cut into ``limit``-character pieces, encode."""
    if not data:
        return []
    raws = data.split(b"\n")
    if data.endswith(b"\n"):
        raws.pop()
    bodies = []
    for raw in raws:
        text = raw.decode(cs, errors)
        pieces = [text[k : k + limit] for k in range(0, len(text), limit)] or [""]
        bodies.extend(p.encode(out, "replace") for p in pieces)
    return bodies


def read(data: bytes, offset: int, line: int, batch: int, **kw: Any) -> tuple[list[bytes], int, int]:
    f = io.BytesIO(data)
    f.seek(offset)
    d = LineDeserializer(f, offset=offset, line=line, **kw)
    got = d.read(batch)
    return got, d.offset, d.line


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    parts=st.lists(atoms, max_size=200),
    limit=st.sampled_from([1, 2, 3, 7, 40, 2048]),
    chunk=st.integers(min_value=1, max_value=300),
    batch=st.integers(min_value=1, max_value=50),
    charsets=st.sampled_from([("UTF-8", "UTF-8"), ("ISO-8859-1", "UTF-8"), ("UTF-8", "ISO-8859-1"), ("cp1252", "UTF-8")]),
    policy=st.sampled_from(["REPLACE", "IGNORE"]),
)
def test_the_splitter_gives_the_reference_lines_and_exact_offsets(
    parts: list[bytes], limit: int, chunk: int, batch: int, charsets: tuple[str, str], policy: str
) -> None:
    data = b"".join(parts)
    cs, out = charsets
    kw: dict[str, Any] = {
        "max_line_length": limit,
        "chunk_size": chunk,
        "input_charset": cs,
        "output_charset": out,
        "decode_error_policy": policy,
    }
    expected = reference(data, limit, cs, out, policy.lower())
    # one reader all the way
    f = io.BytesIO(data)
    d = LineDeserializer(f, **kw)
    whole: list[bytes] = []
    while got := d.read(batch):
        whole.extend(got)
    assert whole == expected
    assert d.offset == len(data) and d.at_eof()
    # a new reader after every batch, resuming at the last one's position
    got_all: list[bytes] = []
    offset = line = 0
    while True:
        got, new_offset, new_line = read(data, offset, line, batch, **kw)
        if not got:
            break
        assert new_offset > offset
        got_all.extend(got)
        offset, line = new_offset, new_line
    assert got_all == expected and offset == len(data)
    assert line == len(data.split(b"\n")) - (1 if data.endswith(b"\n") or not data else 0)


@settings(max_examples=EXAMPLES, deadline=None)
@given(parts=st.lists(atoms, max_size=120), chunk=st.integers(min_value=1, max_value=200), batch=st.integers(min_value=1, max_value=20))
def test_fail_returns_every_line_before_the_first_bad_one(parts: list[bytes], chunk: int, batch: int) -> None:
    data = b"".join(parts)
    lines = data.split(b"\n")
    bad = next((i for i, raw in enumerate(lines) if _invalid(raw)), None)
    d = LineDeserializer(io.BytesIO(data), max_line_length=2048, chunk_size=chunk, decode_error_policy="FAIL")
    got: list[bytes] = []
    if bad is None:
        while b := d.read(batch):
            got.extend(b)
        assert got == reference(data, 2048, "utf-8", "utf-8", "strict")
        return
    with pytest.raises(DecodeFailure) as exc:
        while b := d.read(batch):
            got.extend(b)
    assert got == (reference(b"\n".join(lines[:bad]) + b"\n", 2048, "utf-8", "utf-8", "strict") if bad else [])
    assert exc.value.line == bad + 1
    start = sum(len(raw) + 1 for raw in lines[:bad])
    try:
        lines[bad].decode("utf-8")
    except UnicodeDecodeError as err:
        assert exc.value.offset == start + err.start


def _invalid(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True

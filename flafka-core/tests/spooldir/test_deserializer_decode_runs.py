"""The UTF-8 fast path of ``_decode_runs`` (one decode call, an error handler recording
each undecodable unit) gives the runs of the general path (a fresh decoder after each
unit), on random bytes, both policies, final or not."""

from __future__ import annotations

import io
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources import deserializers
from flafka.sources.deserializers import LineDeserializer, _decode_runs_restarting, _decode_runs_utf8

EXAMPLES = int(os.environ.get("FLAFKA_HYPOTHESIS_EXAMPLES", "300"))

# valid characters of every length, stray continuation and lead bytes, cut sequences
VALID = [b"a", b"\n", b"\xc3\xa9", b"\xe6\x97\xa5", b"\xf0\x9f\x98\x80"]
BROKEN = [b"\xff", b"\x80", b"\xc3", b"\xe6\x97", b"\xf0\x9f", b"\xed\xa0\x80", b"\xc0\xaf"]
pieces = st.sampled_from([*VALID, *BROKEN])


def _merged(runs: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """Consecutive dropped units as one run (what the fast path gives for IGNORE)."""
    out: list[tuple[str, int, bool]] = []
    for run in runs:
        if out and not run[0] and not run[2] and not out[-1][0] and not out[-1][2]:
            out[-1] = ("", out[-1][1] + run[1], False)
        else:
            out.append(run)
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    parts=st.lists(st.one_of(pieces, st.binary(max_size=4)), max_size=40),
    errors=st.sampled_from(["replace", "ignore"]),
    final=st.booleans(),
)
def test_the_utf8_fast_path_equals_the_general_one(parts: list[bytes], errors: str, final: bool) -> None:
    raw = b"".join(parts)
    slow, slow_used = _decode_runs_restarting(raw, "utf-8", errors, final)
    fast, fast_used = _decode_runs_utf8(raw, errors, final)
    assert fast_used == slow_used
    assert fast == (_merged(slow) if errors == "ignore" else slow)
    assert sum(n for _, n, _ in fast) == fast_used
    if final:
        assert "".join(t for t, _, _ in fast) == raw.decode("utf-8", errors)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    parts=st.lists(pieces, min_size=1, max_size=300),
    limit=st.integers(min_value=1, max_value=9),
    chunk=st.integers(min_value=1, max_value=64),
    policy=st.sampled_from(["REPLACE", "IGNORE"]),
)
def test_long_lines_with_bad_bytes_match_the_general_path(parts: list[bytes], limit: int, chunk: int, policy: str) -> None:
    """The whole deserializer (long lines cut while they are read, restart offsets) gives
    the same bodies and offsets with the fast path as with the general one."""
    raw = b"".join(parts)

    def run() -> list[tuple[bytes, int, int]]:
        d = LineDeserializer(io.BytesIO(raw), max_line_length=limit, decode_error_policy=policy, chunk_size=chunk)
        out = []
        while batch := d.read(1):
            out.append((batch[0], d.offset, d.line))
        return out

    fast = run()
    real = deserializers._decode_runs
    deserializers._decode_runs = _decode_runs_restarting  # type: ignore[assignment]
    try:
        slow = run()
    finally:
        deserializers._decode_runs = real  # type: ignore[assignment]
    assert fast == slow


def test_a_long_run_of_undecodable_bytes_costs_no_decoder_per_byte(monkeypatch) -> None:
    """The known slow case (2.7 µs per undecodable byte: a decoder and an exception per
    byte): a long line of 0xFF now decodes in one call. Counts decoders, not time."""
    made = 0
    real = deserializers.codecs.getincrementaldecoder

    def counting(name: str):  # type: ignore[no-untyped-def]
        cls = real(name)

        def make(*a, **kw):  # type: ignore[no-untyped-def]
            nonlocal made
            made += 1
            return cls(*a, **kw)

        return make

    monkeypatch.setattr(deserializers.codecs, "getincrementaldecoder", counting)
    content = b"a" + b"\xff" * (64 << 10) + b"bc\n"
    for policy in ("IGNORE", "REPLACE"):
        made = 0
        d = LineDeserializer(io.BytesIO(content), max_line_length=2048, decode_error_policy=policy, chunk_size=4096)
        n = 0
        while batch := d.read(100):
            n += len(batch)
        assert d.offset == len(content)
        assert made < 100, (policy, made)  # one per chunk at most, not one per byte

"""A file quarantined while some of its batches are still in flight loses nothing: the
note names the exact offsets (delivered, in flight, where reading stopped) and a re-feed
recipe that covers the in-flight events, and is rewritten once they are delivered."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest


def note(spool: Path, name: str) -> str:
    return (spool / ".flafka-quarantine" / f"{name}.reason.txt").read_text()


def refeed(spool: Path, text: str) -> None:
    """Run the note's re-feed recipe exactly as an operator would paste it."""
    m = re.search(r"^re-feed: (.+)$", text, re.M)
    assert m, text
    subprocess.run(m.group(1), shell=True, check=True)


def numbered(n: int) -> bytes:
    return b"".join(b"line-%03d\n" % i for i in range(n))


def test_crash_after_quarantine_with_batches_in_flight_loses_nothing(h, spool: Path) -> None:
    data = numbered(30) + b"bad\xff\n" + numbered(3)
    h.write(spool / "a.log", data)
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    src.process()
    src.process()
    src.process()  # three batches handed to the channel: lines 0..29
    fake = h.fake(src)
    fake.deliver(1)  # only the first one is delivered (the sink is slow)
    src.process()  # the fourth batch hits the undecodable line: quarantine
    src.process()
    delivered = fake.bodies()[:10]
    assert (spool / ".flafka-quarantine" / "a.log").exists()
    text = note(spool, "a.log")
    # crash (SIGKILL): batches 2 and 3 die with the memory channel; restart
    again = h.make_source(spool, {"batchSize": "10", "decodeErrorPolicy": "REPLACE"})
    h.run(again)
    assert h.fake(again).bodies() == []
    assert "delivered: lines 1..10 (bytes 0..90)" in text
    assert "in flight: lines 11..30 (bytes 90..270)" in text
    assert "reading stopped: line 31 at byte offset 273" in text
    refeed(spool, text)  # what the operator does; the rest still holds the bad line
    h.run(again)
    got = delivered + h.fake(again).bodies()
    assert got[:30] == [b"line-%03d" % i for i in range(30)]
    assert got[30] == "bad\ufffd".encode() and got[31:] == [b"line-%03d" % i for i in range(3)]


def test_note_is_rewritten_once_the_in_flight_batches_are_delivered(h, spool: Path) -> None:
    h.write(spool / "a.log", numbered(20) + b"\xff\n")
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    src.process()
    src.process()
    src.process()  # quarantined with both batches in flight
    assert "in flight: lines 1..20 (bytes 0..180)" in note(spool, "a.log")
    assert "tail -c +1 " in note(spool, "a.log")
    h.fake(src).deliver()
    src.process()
    text = note(spool, "a.log")
    assert "delivered: lines 1..20 (bytes 0..180)" in text and "in flight: none" in text
    assert "tail -c +181 " in text
    assert src.drained()


def test_note_follows_each_delivery_of_an_in_flight_batch(h, spool: Path) -> None:
    h.write(spool / "a.log", numbered(30) + b"\xff\n")
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    for _ in range(4):
        src.process()  # three batches in flight, then quarantined
    h.fake(src).deliver(1)
    src.process()
    text = note(spool, "a.log")
    assert "delivered: lines 1..10 (bytes 0..90)" in text and "in flight: lines 11..30 (bytes 90..270)" in text
    assert "tail -c +91 " in text


def test_crash_with_batches_in_flight_then_quarantine_on_restart(h, spool: Path) -> None:
    f = h.write(spool / "a.log", numbered(40))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    for _ in range(4):
        src.process()
    h.fake(src).deliver(1)
    src.process()  # position: 10 lines delivered, 30 in flight
    delivered = h.fake(src).bodies()[:10]
    # SIGKILL; the producer appends while the agent is down; restart
    with open(f, "ab") as out:
        out.write(b"late\n")
    again = h.make_source(spool, {"batchSize": "10"})
    h.run(again)
    assert h.fake(again).bodies() == []
    text = note(spool, "a.log")
    assert "found on restart" in text and "delivered: lines 1..10 (bytes 0..90)" in text and "in flight: none" in text
    refeed(spool, text)
    h.run(again)
    assert delivered + h.fake(again).bodies() == [b"line-%03d" % i for i in range(40)] + [b"late"]


def test_recipe_quotes_odd_names(h, spool: Path) -> None:
    name = "it's a $(file)"
    h.write(spool / name, numbered(10) + b"\xff\n")
    src = h.make_source(spool, {"batchSize": "5"}, auto=False)
    for _ in range(3):
        src.process()
    h.fake(src).deliver(1)
    src.process()
    text = note(spool, name)
    refeed(spool, text)
    assert (spool / "it's a $(file).from-byte-45").read_bytes() == numbered(10)[45:] + b"\xff\n"
    assert not [p for p in spool.iterdir() if p.name.endswith(".part")]


def appended(spool: Path, src) -> None:
    with open(spool / "a.log", "ab") as out:
        out.write(b"late\n")


def read_fails(spool: Path, src) -> None:
    def broken(n: int):
        raise OSError(5, "Input/output error")

    src._current.deser.read = broken


@pytest.mark.parametrize("trouble", [appended, read_fails])
def test_modified_or_unreadable_midway_with_batches_in_flight(h, spool: Path, trouble) -> None:
    h.write(spool / "a.log", numbered(30))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    src.process()
    src.process()  # two batches in flight
    h.fake(src).deliver(1)
    trouble(spool, src)
    src.process()  # quarantined
    delivered = h.fake(src).bodies()[:10]
    text = note(spool, "a.log")
    assert "delivered: lines 1..10 (bytes 0..90)" in text and "in flight: lines 11..20 (bytes 90..180)" in text
    # crash: the in-flight batch is lost with the channel; the re-feed covers it
    again = h.make_source(spool, {"batchSize": "10"})
    refeed(spool, text)
    h.run(again)
    got = delivered + h.fake(again).bodies()
    assert got[:30] == [b"line-%03d" % i for i in range(30)]

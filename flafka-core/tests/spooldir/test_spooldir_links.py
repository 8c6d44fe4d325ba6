"""The spooling directory source never follows a symbolic link, end to end through a
real agent (spooldir -> memory -> file_roll): a link back to spoolDir with recursion on
delivers every line once and quarantines nothing; a link to a file outside spoolDir is
never read; a file (or a directory above it) swapped for a link between listing and
opening is not read either. Each link is warned about once, however many polls see it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from flafka.sources import spooldir

SECRET = b"SECRET-outside-spoolDir"
RECURSIVE = "a1.sources.r1.recursiveDirectorySearch = true\n"


def lines(prefix: str, n: int) -> bytes:
    return b"".join(b"%s-%d\n" % (prefix.encode(), i) for i in range(n))


def link_warnings(caplog: pytest.LogCaptureFixture, path: Path) -> int:
    return sum(1 for r in caplog.records if "symbolic link" in r.getMessage() and f"'{path}'" in r.getMessage())


def quarantined(spool: Path) -> list[str]:
    q = spool / ".flafka-quarantine"
    return sorted(p.name for p in q.iterdir()) if q.exists() else []


def test_link_back_to_spooldir_with_recursion_delivers_each_line_once(
    h, tmp_path: Path, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h.write(spool / "a.log", lines("a", 50))
    h.write(spool / "sub" / "b.log", lines("b", 30))
    (spool / "loop").symlink_to(spool, target_is_directory=True)  # the case
    with caplog.at_level(logging.WARNING):
        got = h.run_agent(tmp_path, spool, RECURSIVE)
    assert sorted(got) == sorted(lines("a", 50).split(b"\n")[:-1] + lines("b", 30).split(b"\n")[:-1])
    assert len(got) == 80  # each line exactly once
    assert quarantined(spool) == []  # no phantom quarantines
    assert (spool / "a.log.COMPLETED").exists() and (spool / "sub" / "b.log.COMPLETED").exists()
    assert (spool / "loop").is_symlink()  # the link is left alone
    assert link_warnings(caplog, spool / "loop") == 1


def test_link_to_a_file_outside_spooldir_is_never_read(h, tmp_path: Path, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "outside"
    secret = h.write(outside / "hostname", SECRET + b"\n")
    h.write(spool / "ok.log", lines("ok", 5))
    (spool / "hostname").symlink_to(secret)
    (spool / "etc-hostname").symlink_to("/etc/hostname")  # the case (dangling if absent)
    with caplog.at_level(logging.WARNING):
        got = h.run_agent(tmp_path, spool)
    assert got == lines("ok", 5).split(b"\n")[:-1]
    assert not any(SECRET in line for line in got)
    assert (spool / "hostname").is_symlink() and not (spool / "hostname.COMPLETED").exists()
    assert secret.read_bytes() == SECRET + b"\n" and quarantined(spool) == []
    assert link_warnings(caplog, spool / "hostname") == 1 and link_warnings(caplog, spool / "etc-hostname") == 1
    message = next(r.getMessage() for r in caplog.records if f"'{spool / 'hostname'}'" in r.getMessage())
    assert str(secret) in message and "ignorePattern" in message


def swap_before_open(monkeypatch: pytest.MonkeyPatch, victim: Path, swap: Callable[[], None]) -> list[str]:
    """Make the source's open of ``victim`` happen right after ``swap`` ran: the race of a
    file replaced between the listing and the open, made deterministic."""
    real = spooldir._open_for_read
    opened: list[str] = []

    def racing(path: str):
        if path == str(victim) and not opened:
            swap()
        opened.append(path)
        return real(path)

    monkeypatch.setattr(spooldir, "_open_for_read", racing)
    return opened


def test_file_swapped_for_a_link_after_listing_is_not_read(
    h, tmp_path: Path, spool: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = h.write(tmp_path / "outside" / "secret", SECRET + b"\n")
    victim = h.write(spool / "victim.log", lines("v", 3), mtime=1)
    h.write(spool / "after.log", lines("after", 3), mtime=2)

    def swap() -> None:
        victim.rename(tmp_path / "outside" / "victim.log")
        victim.symlink_to(secret)

    opened = swap_before_open(monkeypatch, victim, swap)
    with caplog.at_level(logging.WARNING):
        got = h.run_agent(tmp_path, spool)
    assert str(victim) in opened  # the race did happen
    assert got == lines("after", 3).split(b"\n")[:-1]
    assert victim.is_symlink() and quarantined(spool) == []
    assert link_warnings(caplog, victim) == 1


def test_directory_swapped_for_a_link_after_listing_is_not_read(
    h, tmp_path: Path, spool: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    evil = tmp_path / "outside" / "evil"
    h.write(evil / "x.log", SECRET + b"\n")
    h.write(spool / "sub" / "x.log", lines("x", 3))
    victim = spool / "sub" / "x.log"

    def swap() -> None:  # O_NOFOLLOW guards only the last component: the identity check the rest
        (spool / "sub").rename(tmp_path / "outside" / "sub-moved")
        (spool / "sub").symlink_to(evil, target_is_directory=True)

    opened = swap_before_open(monkeypatch, victim, swap)
    with caplog.at_level(logging.INFO):
        got = h.run_agent(tmp_path, spool, RECURSIVE)
    assert str(victim) in opened
    assert got == []
    assert (evil / "x.log").read_bytes() == SECRET + b"\n" and not (evil / "x.log.COMPLETED").exists()
    assert quarantined(spool) == [] and link_warnings(caplog, spool / "sub") == 1


def test_hard_link_is_read_like_any_file(h, tmp_path: Path, spool: Path) -> None:
    """A hard link is the file itself, not a pointer: it is read (as Flume does); the
    kernel's protected_hardlinks keeps users from linking files they cannot read."""
    original = h.write(tmp_path / "outside" / "data.log", lines("d", 4))
    os.link(original, spool / "data.log")
    got = h.run_agent(tmp_path, spool)
    assert got == lines("d", 4).split(b"\n")[:-1]
    assert (spool / "data.log.COMPLETED").exists() and original.exists()

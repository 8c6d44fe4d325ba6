"""The text of a spooling-directory quarantine note (``<name>.reason.txt``).

A note states, in exact byte offsets, what of the file was delivered, what was handed to
the channel but not yet confirmed delivered (in flight), where reading stopped, and a
shell recipe that re-feeds everything not yet delivered: the recipe always starts at the
first byte not confirmed delivered, so events in flight when the agent stops are covered
(at worst they arrive twice, never zero times). Pure functions, no I/O.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass


@dataclass
class NoteFacts:
    """What a note says about one quarantined file. Offsets are byte offsets in the
    file; ``*_lines`` count the whole lines (or events, for BLOB) before them."""

    source: str
    original: str
    """Where the file was in spoolDir."""
    location: str | None
    """Where the file is now (quarantineDir, or still in spoolDir); None if it is gone."""
    moved: str
    """One sentence: moved to X / could not be moved (why) / no longer exists."""
    time: str
    problem: str
    fix: str
    unit: str = "lines"
    where: str = ""
    delivered: int = 0
    delivered_lines: int = 0
    sent: int = 0
    sent_lines: int = 0
    stopped: str = ""
    """Where reading stopped, e.g. "line 31 at byte offset 273"."""
    size: int | None = None
    """The file's size when quarantined (None if unknown)."""

    @property
    def in_flight(self) -> bool:
        return self.sent > self.delivered


def refeed_name(original: str, offset: int) -> str:
    """The name the recipe gives the rest of ``original`` from ``offset``: the offset goes
    before the extension so patterns like ``^.*\\.log$`` still match."""
    base = os.path.basename(original)
    root, ext = os.path.splitext(base)
    if not root:
        root, ext = base, ""
    return os.path.join(os.path.dirname(original), f"{root}.from-byte-{offset}{ext}")


def refeed_recipe(location: str, original: str, offset: int) -> str:
    """A shell command that copies the bytes of ``location`` from ``offset`` on into
    spoolDir under a new name: written to a hidden name first (the source skips names
    starting with '.') and renamed, so the source never sees a partial file."""
    target = refeed_name(original, offset)
    part = os.path.join(os.path.dirname(target), "." + os.path.basename(target) + ".part")
    q = shlex.quote
    return f"tail -c +{offset + 1} {q(location)} > {q(part)} && mv {q(part)} {q(target)}"


def note_text(n: NoteFacts) -> str:
    """The note, one fact per line (``key: value``); the re-feed line is a command."""
    unit = n.unit
    if n.delivered_lines or n.delivered:
        delivered = f"{unit} 1..{n.delivered_lines} (bytes 0..{n.delivered}), confirmed by every sink"
    else:
        delivered = f"none: no {unit} of this file were delivered"
    if n.in_flight:
        in_flight = (
            f"{unit} {n.delivered_lines + 1}..{n.sent_lines} (bytes {n.delivered}..{n.sent}) were handed to the "
            "channel and not yet confirmed delivered when the file was quarantined; this note is rewritten when "
            "they are. While it still says so (the agent stopped or crashed first, and a memory channel lost "
            f"them), they are NOT delivered: the re-feed below starts at byte {n.delivered} and covers them "
            "(some may then arrive twice, none is lost)"
        )
    else:
        in_flight = "none"
    if n.size is not None and n.delivered >= n.size and not n.in_flight:
        refeed = "nothing to re-feed: every byte of the file was delivered"
        refeed_help = "the file can be deleted once you checked it"
    elif n.location is not None:
        recipe = refeed_recipe(n.location, n.original, n.delivered)
        refeed = f"{recipe}"
        refeed_help = (
            f"that command copies the bytes from offset {n.delivered} on (everything not confirmed delivered) "
            "into spoolDir under a new name, after you fixed the problem above; the new name must match "
            "includePattern"
        )
    else:
        refeed = f"not possible from here: the file no longer exists. If you have a copy: tail -c +{n.delivered + 1} COPY"
        refeed_help = f"bytes from offset {n.delivered} on were not delivered"
    lines = [
        f"flafka spooldir source '{n.source}' quarantined this file.",
        f"file: {n.original}",
        n.moved,
        f"time: {n.time}",
        f"problem: {n.problem}",
    ]
    if n.where:
        lines.append(f"where: {n.where}")
    lines += [
        f"delivered: {delivered}",
        f"in flight: {in_flight}",
    ]
    if n.stopped:
        lines.append(f"reading stopped: {n.stopped}")
    lines += [
        f"re-feed: {refeed}",
        f"re-feed means: {refeed_help}",
        f"fix: {n.fix}",
    ]
    return "\n".join(lines) + "\n"


def log_summary(n: NoteFacts) -> str:
    """The same facts in one log line."""
    if n.in_flight:
        state = f"bytes 0..{n.delivered} delivered, {n.delivered}..{n.sent} in flight"
    else:
        state = f"bytes 0..{n.delivered} delivered" if n.delivered else f"no {n.unit} delivered"
    stopped = f", reading stopped at {n.stopped}" if n.stopped else ""
    return f"{state}{stopped}; the rest can be re-fed from byte {n.delivered} (see the note)"

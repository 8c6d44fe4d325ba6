"""What the channel holds, as pointers into the log: one :class:`LiveRecord` per put
record that still has events not taken (take committed), keyed by its first sequence
number. Checkpoints store this; replay rebuilds it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class LiveRecord:
    """A put record (``count`` events numbered from ``seq``) at ``offset`` (``length``
    bytes, frame included) of log file ``file_id``; ``taken`` are ``(index, count)`` runs
    whose take committed."""

    seq: int
    count: int
    file_id: int
    offset: int
    length: int
    taken: list[tuple[int, int]] = field(default_factory=list)
    remaining: int = -1

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.count - sum(n for _, n in self.taken)

    def take(self, index: int, count: int) -> int:
        """Mark ``count`` events from ``index`` taken; return how many were not taken yet."""
        start, end = max(0, index), min(self.count, index + count)
        if end <= start:
            return 0
        fresh = end - start
        merged: list[tuple[int, int]] = []
        for s, n in self.taken:  # few runs per record: keep them disjoint and sorted
            e = s + n
            if e < start or s > end:
                merged.append((s, n))
                continue
            overlap = min(e, end) - max(s, start)
            if overlap > 0:
                fresh -= overlap
            start, end = min(s, start), max(e, end)
        merged.append((start, end - start))
        merged.sort()
        self.taken = merged
        self.remaining -= fresh
        return fresh

    def untaken(self) -> list[tuple[int, int]]:
        """``(index, count)`` runs of events still held, in order."""
        out: list[tuple[int, int]] = []
        pos = 0
        for s, n in self.taken:
            if s > pos:
                out.append((pos, s - pos))
            pos = max(pos, s + n)
        if pos < self.count:
            out.append((pos, self.count - pos))
        return out


class LiveSet:
    """Live records by first sequence number, plus how many live records each log file
    holds (a file with none, older than the last checkpoint, can be deleted)."""

    def __init__(self) -> None:
        self.records: dict[int, LiveRecord] = {}
        self.per_file: dict[int, int] = {}

    def add(self, rec: LiveRecord) -> None:
        if rec.seq in self.records or rec.remaining <= 0:
            return
        self.records[rec.seq] = rec
        self.per_file[rec.file_id] = self.per_file.get(rec.file_id, 0) + 1

    def remove(self, rec: LiveRecord) -> None:
        if self.records.pop(rec.seq, None) is not None:
            left = self.per_file[rec.file_id] - 1
            if left:
                self.per_file[rec.file_id] = left
            else:
                del self.per_file[rec.file_id]

    def take(self, rec: LiveRecord, index: int, count: int) -> None:
        rec.take(index, count)
        if rec.remaining <= 0:
            self.remove(rec)

    def events(self) -> int:
        return sum(r.remaining for r in self.records.values())

    def ordered(self) -> list[LiveRecord]:
        return [self.records[s] for s in sorted(self.records)]

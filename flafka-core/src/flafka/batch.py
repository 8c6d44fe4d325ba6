"""Batches held column-wise: a list of bodies, and header maps only when someone asks.

Most pipelines never look at a header (spooldir -> Kafka, Kafka -> file_roll): building one
:class:`~flafka.event.Event` per line there is pure cost. A :class:`Batch` carries the
bodies as one ``list[bytes]`` and the headers as one of:

* nothing (no event has a header),
* ``common``: one map every event of the batch shares (spooldir's ``fileHeader``, a
  ``timestamp`` interceptor stamping one clock reading per batch),
* a per-event column: a list of maps (or ``None``), or a lazy :class:`HeaderColumn` that
  builds them from the source's own records only when a component reads them (the Kafka
  source's ``topic``/``partition``/``offset``/``timestamp``/``key``).

Contracts:

* A batch is a ``Sequence[Event]``: ``len``, iteration, indexing and slicing work, and
  ``events()`` gives the list today's components expect. The first call that needs
  ``Event`` objects (``events()``, iteration, an integer index) builds them **once**; from
  then on they are the batch's truth, so a header changed in place on one of them is what
  every later reader sees, exactly as with a ``list[Event]``.
* ``bodies`` and ``header_maps()`` are read-only views for the caller: never mutate them.
* Slicing and :func:`concat` never build events while the batch is still column-wise.
* Components that never declared themselves batch-aware (``batch_aware = False``, the
  default: every third-party plugin written against ``list[Event]``) receive
  ``as_events(batch)``, a real ``list[Event]``; the runtime does that conversion.
* Batch-aware components accept either a ``list[Event]`` or a :class:`Batch` (type
  :data:`AnyBatch`) and read them through :func:`bodies_of` / :func:`header_maps_of`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias, overload

from flafka.event import Event

HeaderMap = dict[str, str]


class HeaderColumn(Protocol):
    """Per-event header maps built on demand (a source's own records behind them).

    ``maps()`` returns one new map (or None) per event, owned by the caller. Slicing
    (steps included) returns another column over the same records, building nothing. A
    column may also define ``events(bodies) -> list[Event]`` to build a batch's events
    itself (e.g. events whose headers are built on first access); the batch uses it when
    it has no ``common`` map."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> HeaderColumn: ...

    def maps(self) -> list[HeaderMap | None]: ...


_BUILD_LOCK = threading.RLock()
"""Serialises building events (once per batch): two sinks may ask for the same batch's
events at once (a replicating selector hands one batch to several channels)."""


class Batch(Sequence[Event]):
    """A batch of events held as columns; see the module docstring for the contract.

    The columns are never changed after construction; once ``_events`` is set (under
    :data:`_BUILD_LOCK`, exactly once) every accessor reads the events instead, so a
    reader on another thread sees either the columns or the events, never a mix."""

    __slots__ = ("_bodies", "_column", "_common", "_events")

    def __init__(
        self,
        bodies: list[bytes],
        headers: list[HeaderMap | None] | HeaderColumn | None = None,
        common: HeaderMap | None = None,
    ) -> None:
        self._bodies = bodies
        self._column = headers
        self._common = common or None
        self._events: list[Event] | None = None

    # -- column access (never builds events) -------------------------------------------

    @property
    def bodies(self) -> list[bytes]:
        """The bodies, in order (read-only for the caller)."""
        events = self._events
        if events is None:
            return self._bodies
        return [e.body for e in events]

    @property
    def common(self) -> HeaderMap | None:
        """The map every event shares, when the batch is column-wise and has one."""
        return self._common if self._events is None else None

    @property
    def column(self) -> list[HeaderMap | None] | HeaderColumn | None:
        """The per-event header column as given (None when the batch has none or is no
        longer column-wise)."""
        return self._column if self._events is None else None

    @property
    def columnar(self) -> bool:
        """True until something asked for ``Event`` objects."""
        return self._events is None

    def has_headers(self) -> bool:
        """True when at least one event may carry a header (no maps are built)."""
        events = self._events
        if events is not None:
            return any([e.has_headers for e in events])
        return self._common is not None or self._column is not None

    def header_maps(self) -> list[HeaderMap | None]:
        """One map (or None) per event, ``common`` merged in. Read-only for the caller:
        maps may be shared between events. Builds a lazy column's maps (not events)."""
        events = self._events
        if events is not None:
            return [e._headers for e in events]
        column = self._column
        common = self._common
        if column is None:
            return [common] * len(self._bodies)
        maps = column if isinstance(column, list) else column.maps()
        if not common:
            return maps
        return [{**common, **m} if m else common for m in maps]

    # -- events (built once, then the truth) ------------------------------------------

    def events(self) -> list[Event]:
        """The batch as a list of events, built on first call and kept."""
        events = self._events
        if events is None:
            with _BUILD_LOCK:
                events = self._events
                if events is None:
                    events = self._events = self._build()
        return events

    def _build(self) -> list[Event]:
        bodies = self._bodies
        column = self._column
        common = self._common
        if column is None:
            if common is None:
                return [Event(b) for b in bodies]
            return [Event(b, dict(common)) for b in bodies]
        if isinstance(column, list):
            if common is None:
                return [Event(b, dict(m) if m else None) for b, m in zip(bodies, column, strict=True)]
            return [Event(b, {**common, **m} if m else dict(common)) for b, m in zip(bodies, column, strict=True)]
        if common is None:
            build = getattr(column, "events", None)
            if build is not None:
                built: list[Event] = build(bodies)
                return built
            return [Event(b, m) for b, m in zip(bodies, column.maps(), strict=True)]  # the column's maps are ours
        return [Event(b, {**common, **m} if m else dict(common)) for b, m in zip(bodies, column.maps(), strict=True)]

    # -- Sequence[Event] -------------------------------------------------------------------

    def __len__(self) -> int:
        events = self._events
        return len(self._bodies) if events is None else len(events)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Batch: ...

    def __getitem__(self, index: int | slice) -> Event | Batch:
        if isinstance(index, slice):
            events = self._events
            if events is not None:
                return Batch.of_events(events[index])
            column = self._column
            return Batch(self._bodies[index], column[index] if column is not None else None, self._common)
        return self.events()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Batch, list)):
            return self.events() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = "columns" if self._events is None else "events"
        return f"Batch({len(self)} events, {state})"

    @classmethod
    def of_events(cls, events: list[Event]) -> Batch:
        """A batch whose truth is an existing list of events (kept, not copied)."""
        batch = cls([])
        batch._events = events
        return batch


class _JoinedColumn:
    """Lazy columns (and lists) of consecutive batches, one column; builds nothing until
    read. Its events are built by each part's own column."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list[tuple[list[HeaderMap | None] | HeaderColumn | None, int]]) -> None:
        self._parts = parts

    def __len__(self) -> int:
        return sum(n for _, n in self._parts)

    def maps(self) -> list[HeaderMap | None]:
        out: list[HeaderMap | None] = []
        for column, n in self._parts:
            if column is None:
                out.extend([None] * n)
            elif isinstance(column, list):
                out.extend([dict(m) if m else None for m in column])
            else:
                out.extend(column.maps())
        return out

    def __getitem__(self, index: slice) -> _JoinedColumn:
        maps = self.maps()[index]  # a slice of a joined column is rare: build its maps
        return _JoinedColumn([(maps, len(maps))])

    def events(self, bodies: list[bytes]) -> list[Event]:
        out: list[Event] = []
        at = 0
        for column, n in self._parts:
            out.extend(Batch(bodies[at : at + n], column)._build())  # private batches: no lock needed
            at += n
        return out


AnyBatch: TypeAlias = "list[Event] | Batch"
"""What batch-aware components receive: a list of events or a column-wise batch."""


def as_events(batch: AnyBatch) -> list[Event]:
    """The batch as ``list[Event]`` (the list itself when it already is one)."""
    if type(batch) is list:
        return batch
    if isinstance(batch, Batch):
        return batch.events()
    return list(batch)


def bodies_of(batch: AnyBatch) -> list[bytes]:
    """The bodies of a batch, without building events (read-only for the caller)."""
    if isinstance(batch, Batch):
        return batch.bodies
    return [e.body for e in batch]


def header_maps_of(batch: AnyBatch) -> list[HeaderMap | None]:
    """One header map (or None) per event, read-only, without building events."""
    if isinstance(batch, Batch):
        return batch.header_maps()
    return [e._headers for e in batch]


def has_headers(batch: AnyBatch) -> bool:
    """True when some event of the batch may carry a header."""
    if isinstance(batch, Batch):
        return batch.has_headers()
    return any([e.has_headers for e in batch])


def concat(parts: Sequence[AnyBatch]) -> AnyBatch:
    """One batch holding ``parts`` in order: column-wise when every part still is (lazy
    header columns stay lazy), otherwise a ``list[Event]``."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, Batch) and p.columnar for p in parts):
        batches: Sequence[Batch] = parts  # type: ignore[assignment]
        bodies: list[bytes] = []
        for p in batches:
            bodies.extend(p._bodies)
        common = batches[0]._common
        if all(p._common == common for p in batches):
            if all(p._column is None for p in batches):
                return Batch(bodies, None, common)
            return Batch(bodies, _JoinedColumn([(p._column, len(p._bodies)) for p in batches]), common)
        maps: list[HeaderMap | None] = []
        for p in batches:
            maps.extend(p.header_maps())
        return Batch(bodies, maps)
    events: list[Event] = []
    for part in parts:
        events.extend(as_events(part))
    return events


def subset(batch: AnyBatch, indices: Sequence[int]) -> AnyBatch:
    """The events at ``indices`` (in that order), column-wise when ``batch`` is."""
    if isinstance(batch, Batch) and batch.columnar:
        bodies = batch.bodies
        column = batch._column
        maps = None
        if column is not None:
            all_maps = column if isinstance(column, list) else column.maps()
            maps = [all_maps[i] for i in indices]
        return Batch([bodies[i] for i in indices], maps, batch._common)
    events = as_events(batch)
    return [events[i] for i in indices]


def with_common(batch: AnyBatch, key: str, value: str, preserve: bool) -> Batch | None:
    """A new column-wise batch whose events are ``batch``'s with header ``key`` set to
    ``value`` on every event (with ``preserve``: only on events without ``key``), held in
    its ``common`` map rather than one dict per event; ``batch`` itself is never changed
    (the result is always another object). None when ``batch`` is not
    column-wise (a ``list[Event]``, or a Batch whose events were built): set the header
    on its events then. A lazy header column is kept lazy with ``preserve``; without it,
    its maps are built (not events) and ``key`` removed from them, as they would override
    the common map. The events compare equal to setting the header event by event; the
    order of entries within a map may differ."""
    if not isinstance(batch, Batch) or not batch.columnar:
        return None
    common = batch._common
    assert batch._bodies is not None
    if preserve and common is not None and key in common:
        return Batch(batch._bodies, batch._column, common)  # every event has the key already
    new_common = dict(common) if common else {}
    new_common[key] = value
    column = batch._column
    if column is not None and not preserve:
        maps = column if isinstance(column, list) else column.maps()
        if any([m is not None and key in m for m in maps]):
            maps = [({k: v for k, v in m.items() if k != key} or None) if m is not None and key in m else m for m in maps]
        column = maps
    return Batch(batch._bodies, column, new_common)

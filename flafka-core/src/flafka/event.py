"""The event: a body of bytes and a map of string headers (Flume's ``Event``)."""

from __future__ import annotations


class Event:
    """One event. Cheap to create: two slots, no validation.

    Contract: ``body`` is ``bytes``; ``headers`` is a ``dict[str, str]`` owned by this
    event (interceptors may change it in place). An event created without headers gets
    its dict on first access, so header-less pipelines (spooldir -> file_roll) never
    allocate one: 64 bytes less per event held in a channel.
    """

    __slots__ = ("_headers", "body")

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        h = self._headers
        if h is None:
            h = self._headers = {}
        return h

    @headers.setter
    def headers(self, value: dict[str, str]) -> None:
        self._headers = value

    @property
    def has_headers(self) -> bool:
        """True when the event carries at least one header (does not allocate)."""
        return bool(self._headers)

    def __repr__(self) -> str:
        more = "..." if len(self.body) > 32 else ""
        return f"Event(body={self.body[:32]!r}{more}, headers={self._headers or {}!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.body == other.body and (self._headers or {}) == (other._headers or {})

    __hash__ = None  # type: ignore[assignment]

"""The event: a body of bytes and a map of string headers (Flume's ``Event``)."""

from __future__ import annotations


class Event:
    """One event. Cheap to create: two slots, no validation.

    Contract: ``body`` is ``bytes``; ``headers`` is a ``dict[str, str]`` owned by this
    event (interceptors may change it in place).
    """

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.headers = {} if headers is None else headers

    def __repr__(self) -> str:
        return f"Event(body={self.body[:32]!r}{'...' if len(self.body) > 32 else ''}, headers={self.headers!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.body == other.body and self.headers == other.headers

    __hash__ = None  # type: ignore[assignment]

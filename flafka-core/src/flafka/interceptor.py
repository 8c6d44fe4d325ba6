"""Interceptors modify or drop events between a source and its channels, per batch."""

from __future__ import annotations

from flafka.component import Component
from flafka.event import Event


class Interceptor(Component):
    """``intercept`` receives a batch and returns the events to keep (may be the same list,
    changed in place). It runs on the source's thread."""

    kind = "interceptor"

    def intercept(self, events: list[Event]) -> list[Event]:
        raise NotImplementedError

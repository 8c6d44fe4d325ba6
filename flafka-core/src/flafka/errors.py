"""Exceptions shared by the runtime and components.

Sinks raise :class:`RetriableError` or :class:`PermanentError` (or return a
:class:`~flafka.sink.BatchOutcome`); the runtime owns backoff, retries and rollback.
"""

from __future__ import annotations


class FlafkaError(Exception):
    """Base class of every flafka error. ``str(err)`` is a sentence a user can act on."""


class ConfigError(FlafkaError):
    """A configuration that cannot work; carries the diagnostics that explain why."""

    def __init__(self, message: str, diagnostics: list[object] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class ChannelError(FlafkaError):
    """A channel operation failed (e.g. a transaction exceeded ``transactionCapacity``)."""


class ChannelFullError(ChannelError):
    """The channel has no room for a put commit: the source must retry later (back-pressure)."""


class RetriableError(FlafkaError):
    """A destination failed in a way that retrying may fix (timeout, broker down)."""


class PermanentError(FlafkaError):
    """A destination rejected events for good (bad record, permission): retrying cannot help."""

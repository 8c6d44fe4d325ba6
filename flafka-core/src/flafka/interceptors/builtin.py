"""Flume's built-in interceptors: ``timestamp``, ``host``, ``static``, ``remove_header``,
``regex_filter``, ``regex_extractor``, ``search_replace`` and the UUID interceptor.

Contract (see :class:`flafka.interceptor.Interceptor`): ``intercept`` takes a batch and
returns the events to keep, in order. Headers and bodies are changed in place; the same
list is returned unless events are dropped. ``timestamp``, ``host``, ``static``,
``remove_header``, ``regex_filter`` and ``search_replace`` are ``batch_aware``: on a
column-wise :class:`~flafka.batch.Batch` they return a new column-wise batch (a header set
once in its ``common`` map, removed from its maps, events kept by index, a new bodies
column) and never change the batch
they got nor build an ``Event``; on anything else they work on ``as_events(batch)`` as
before. Both paths give equal events (property-tested). Everything that can be computed once
(compiled patterns, the local host name, translated replacement templates) is computed in
``__init__`` or ``start``; nothing is logged per event. Events an interceptor drops are
counted in ``self.counter`` (an :class:`~flafka.metrics.counters.InterceptorCounter`).
"""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from itertools import repeat
from operator import is_

from flafka.batch import AnyBatch, Batch, HeaderMap, as_events, bodies_of, header_maps_of, subset, with_common
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.interceptor import Interceptor
from flafka.metrics.counters import InterceptorCounter
from flafka.settings import REQUIRED, Schema, Setting, Settings

log = logging.getLogger(__name__)

_FQCN = "org.apache.flume.interceptor."
_RESERVED = ("type",)


def set_header(events: list[Event], key: str, value: str, preserve: bool) -> None:
    """Set ``key`` to ``value`` on every event; with ``preserve`` keep an existing value."""
    if preserve:
        for e in events:
            e.headers.setdefault(key, value)
    else:
        for e in events:
            e.headers[key] = value


def set_header_on_batch(batch: AnyBatch, key: str, value: str, preserve: bool) -> AnyBatch:
    """:func:`set_header` for any batch: a column-wise :class:`~flafka.batch.Batch` gets a
    new batch with ``key`` in its ``common`` map (``batch`` unchanged, no ``Event`` built);
    anything else is changed event by event and returned as a list."""
    new = with_common(batch, key, value, preserve)
    if new is not None:
        return new
    events = as_events(batch)
    set_header(events, key, value, preserve)
    return events


class _Base(Interceptor):
    """Common wiring: a counter for dropped events."""

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.counter = InterceptorCounter(name, self.type_name)

    def start(self) -> None:
        self.counter.started()

    def stop(self) -> None:
        self.counter.stopped()


def _columns(bodies: list[bytes], maps: list[HeaderMap | None]) -> Batch:
    """A column-wise batch of ``bodies`` with ``maps`` (one per body, possibly shared):
    its common map when every event has the same map object, else a header column."""
    first = maps[0] if maps else None
    if all(map(is_, maps, repeat(first))):
        return Batch(bodies, None, first)
    return Batch(bodies, maps)


def _rebatch(bodies: list[bytes], batch: Batch) -> Batch:
    """A column-wise batch of new ``bodies`` (one per event) with ``batch``'s headers."""
    if not batch.has_headers():
        return Batch(bodies)
    return _columns(bodies, header_maps_of(batch))


# -- timestamp ------------------------------------------------------------------------------


class TimestampInterceptor(_Base):
    """Sets a header to the current time in epoch milliseconds.

    Difference from Flume: one clock reading per batch (Flume reads it per event), so all
    events of a batch carry the same value.
    """

    type_name = "timestamp"
    aliases = (_FQCN + "TimestampInterceptor$Builder",)
    summary = "Set a header to the current time (epoch ms)"
    settings_schema = Schema(
        Setting("headerName", "str", "timestamp", "header to set", since="1.8"),
        Setting("preserveExisting", "bool", False, "keep a value the event already has"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.header: str = settings["headerName"]
        self.preserve: bool = settings["preserveExisting"]
        self.clock: Callable[[], float] = time.time
        """Seconds since the epoch; replaceable in tests."""

    batch_aware = True  # a column-wise batch gets the value once, in its common map

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        now = str(int(self.clock() * 1000))
        return set_header_on_batch(events, self.header, now, self.preserve)


# -- host -----------------------------------------------------------------------------------


def local_host(use_ip: bool) -> str | None:
    """The local host's IP address (``use_ip``) or canonical name, as Flume's
    ``InetAddress.getLocalHost()``; None when it cannot be resolved."""
    try:
        hostname = socket.gethostname()
        if use_ip:
            return socket.gethostbyname(hostname)
        return socket.getfqdn(hostname)
    except OSError:
        return None


class HostInterceptor(_Base):
    """Sets a header to the agent's IP address or host name, resolved once at start."""

    type_name = "host"
    aliases = (_FQCN + "HostInterceptor$Builder",)
    summary = "Set a header to the agent's IP address or host name"
    settings_schema = Schema(
        Setting("preserveExisting", "bool", False, "keep a value the event already has"),
        Setting("useIP", "bool", True, "use the IP address (false: the canonical host name)"),
        Setting("hostHeader", "str", "host", "header to set"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.header: str = settings["hostHeader"]
        self.preserve: bool = settings["preserveExisting"]
        self.use_ip: bool = settings["useIP"]
        self.resolver: Callable[[bool], str | None] = local_host
        self.host: str | None = None
        self._resolved = False

    def start(self) -> None:
        super().start()
        self._resolve()

    def _resolve(self) -> None:
        self.host = self.resolver(self.use_ip)
        self._resolved = True
        if self.host is None:
            log.warning(
                "interceptor '%s': could not resolve the local host %s; events get no '%s' header "
                "(check the host's name resolution, e.g. /etc/hosts)",
                self.name,
                "address" if self.use_ip else "name",
                self.header,
            )

    batch_aware = True  # a column-wise batch gets the host once, in its common map

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        if not self._resolved:
            self._resolve()
        host = self.host
        if host is None:
            return events
        return set_header_on_batch(events, self.header, host, self.preserve)


# -- static ---------------------------------------------------------------------------------


class StaticInterceptor(_Base):
    """Sets one fixed header."""

    type_name = "static"
    aliases = (_FQCN + "StaticInterceptor$Builder",)
    summary = "Set one fixed header"
    settings_schema = Schema(
        Setting("key", "str", "key", "header name"),
        Setting("value", "str", "value", "header value"),
        Setting("preserveExisting", "bool", True, "keep a value the event already has"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.key: str = settings["key"]
        self.value: str = settings["value"]
        self.preserve: bool = settings["preserveExisting"]

    batch_aware = True  # a column-wise batch gets the header once, in its common map

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        return set_header_on_batch(events, self.key, self.value, self.preserve)


# -- remove_header --------------------------------------------------------------------------


class RemoveHeaderInterceptor(_Base):
    """Removes headers by exact name (``withName``), by list (``fromList``) and/or by a
    regular expression that must match the whole header name (``matching``)."""

    type_name = "remove_header"
    aliases = (_FQCN + "RemoveHeaderInterceptor$Builder",)
    summary = "Remove headers by name, list or pattern"
    settings_schema = Schema(
        Setting("withName", "str", None, "name of one header to remove", since="1.8"),
        Setting("fromList", "str", None, "header names to remove, separated by fromListSeparator", since="1.8"),
        Setting("fromListSeparator", "regex", r"\s*,\s*", "regular expression separating fromList", since="1.8"),
        Setting("matching", "regex", None, "remove every header whose whole name matches", since="1.8"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.with_name: str | None = settings["withName"] or None
        from_list = settings["fromList"]
        names = re.split(settings["fromListSeparator"], from_list) if from_list else []
        self.from_list: frozenset[str] = frozenset(n for n in names if n)
        pattern = settings["matching"]
        self.matching: re.Pattern[str] | None = re.compile(pattern) if pattern else None

    batch_aware = True  # a column-wise batch: each distinct map is filtered once

    def _doomed(self, name: str) -> bool:
        matching = self.matching
        return name == self.with_name or name in self.from_list or (matching is not None and matching.fullmatch(name) is not None)

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        if isinstance(events, Batch) and events.columnar:
            return self._intercept_columns(events)
        return self._intercept_events(as_events(events))

    def _intercept_columns(self, batch: Batch) -> AnyBatch:
        """A new column-wise batch without the removed headers; a map shared by several
        events (the common one, or a decoder's repeated one) is filtered once."""
        if not batch.has_headers() or (self.with_name is None and not self.from_list and self.matching is None):
            return batch
        doomed = self._doomed
        done: dict[int, HeaderMap | None] = {}
        maps: list[HeaderMap | None] = []
        for m in header_maps_of(batch):
            if m is None:
                maps.append(None)
                continue
            got = done.get(id(m), m)
            if got is m:
                got = done[id(m)] = {k: v for k, v in m.items() if not doomed(k)} or None
            maps.append(got)
        return _columns(bodies_of(batch), maps)

    def _intercept_events(self, events: list[Event]) -> list[Event]:
        with_name, from_list, matching = self.with_name, self.from_list, self.matching
        if with_name is not None:
            for e in events:
                e.headers.pop(with_name, None)
        if from_list or matching is not None:
            full = matching.fullmatch if matching is not None else None
            for e in events:
                headers = e.headers
                doomed = [k for k in headers if k in from_list or (full is not None and full(k))]
                for k in doomed:
                    del headers[k]
        return events


# -- regex_filter ---------------------------------------------------------------------------


class RegexFilteringInterceptor(_Base):
    """Keeps events whose body (UTF-8 text) contains a match of ``regex`` — or, with
    ``excludeEvents = true``, drops them. Dropped events are counted."""

    type_name = "regex_filter"
    aliases = (_FQCN + "RegexFilteringInterceptor$Builder",)
    summary = "Keep (or drop) events whose body matches a regular expression"
    settings_schema = Schema(
        Setting("regex", "regex", ".*", "regular expression searched in the body"),
        Setting("excludeEvents", "bool", False, "drop matching events instead of keeping them"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.pattern = re.compile(settings["regex"])
        self.exclude: bool = settings["excludeEvents"]
        self._match_all = settings["regex"] in (".*", "")

    batch_aware = True  # reads bodies only; keeps events by index (column-wise stays so)

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        if self._match_all:  # '.*' finds an (empty) match in every body
            if not self.exclude:
                return events
            self.counter.event_dropped_count += len(events)
            return []
        search = self.pattern.search
        bodies = bodies_of(events)
        if self.exclude:
            kept = [i for i, b in enumerate(bodies) if not search(b.decode("utf-8", "replace"))]
        else:
            kept = [i for i, b in enumerate(bodies) if search(b.decode("utf-8", "replace"))]
        dropped = len(bodies) - len(kept)
        if dropped:
            self.counter.event_dropped_count += dropped
            return subset(events, kept)
        return events


# -- regex_extractor ------------------------------------------------------------------------

MILLIS_SERIALIZER = _FQCN + "RegexExtractorInterceptorMillisSerializer"
PASSTHROUGH_SERIALIZER = _FQCN + "RegexExtractorInterceptorPassThroughSerializer"


def joda_to_strptime(pattern: str) -> str:
    """Translate a Joda-Time / SimpleDateFormat pattern (``yyyy-MM-dd HH:mm:ss.SSS Z``)
    to a :func:`datetime.strptime` format. Raises ValueError naming an unsupported letter."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):  # '' is a literal quote
                out.append("'")
                i += 2
                continue
            i += 1
            while True:  # quoted text; '' inside it is a quote
                if i >= n:
                    raise ValueError(f"unterminated quote in date pattern '{pattern}'")
                if pattern[i] == "'":
                    if pattern.startswith("''", i):
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append("%%" if pattern[i] == "%" else pattern[i])
                i += 1
            continue
        if not c.isascii() or not c.isalpha():
            out.append("%%" if c == "%" else c)
            i += 1
            continue
        j = i
        while j < n and pattern[j] == c:
            j += 1
        count = j - i
        i = j
        if c == "y" or c == "Y" or c == "u":
            out.append("%y" if count == 2 else "%Y")
        elif c == "M":
            out.append("%B" if count >= 4 else "%b" if count == 3 else "%m")
        elif c == "d":
            out.append("%d")
        elif c == "H":
            out.append("%H")
        elif c == "h":
            out.append("%I")
        elif c == "m":
            out.append("%M")
        elif c == "s":
            out.append("%S")
        elif c == "S":
            out.append("%f")
        elif c in ("Z", "X"):
            out.append("%z")
        elif c == "a":
            out.append("%p")
        elif c == "E":
            out.append("%A" if count >= 4 else "%a")
        elif c == "D":
            out.append("%j")
        else:
            raise ValueError(
                f"date pattern letter '{c}' in '{pattern}' is not supported "
                f"(supported: y M d H h m s S Z X a E D and quoted 'text')"
            )
    return "".join(out)


def _millis_parser(fmt: str) -> Callable[[str], str]:
    strptime = datetime.strptime

    def parse(text: str) -> str:
        dt = strptime(text, fmt)  # no zone in the pattern: local time, as Joda's default zone
        whole = dt.replace(microsecond=0).timestamp()
        return str(int(whole) * 1000 + dt.microsecond // 1000)

    return parse


class RegexExtractorInterceptor(_Base):
    """Searches the body (UTF-8 text) with ``regex`` and puts group *i* into the header
    named by the *i*-th serializer of ``serializers``. Groups past the last serializer are
    skipped; groups that did not take part in the match set no header.

    Serializer types: ``default`` (the text as is) and Flume's
    ``RegexExtractorInterceptorMillisSerializer`` (``pattern``: a Joda date pattern; the
    header becomes epoch ms). Difference from Flume: a value the millis serializer cannot
    parse leaves the header unset and is counted in ``self.parse_failures`` (Flume fails
    the whole batch).
    """

    type_name = "regex_extractor"
    aliases = (_FQCN + "RegexExtractorInterceptor$Builder",)
    summary = "Copy regular-expression groups of the body into headers"
    settings_schema = Schema(
        Setting("regex", "regex", REQUIRED, "regular expression searched in the body"),
        Setting("serializers", "list", REQUIRED, "serializer names, one per group, in group order"),
        Setting("serializers.*", "map", None, "serializers.<s>.name / .type / .pattern"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        where = f"interceptor '{name}' (regex_extractor)"
        regex = settings["regex"]
        if not regex:
            raise ConfigError(f"{where}: regex is required; add regex = <regular expression with groups>")
        names: list[str] = settings["serializers"] or []
        if not names:
            raise ConfigError(
                f"{where}: serializers is required; add serializers = s1 and serializers.s1.name = <header>"
            )
        sub: dict[str, str] = settings["serializers.*"] or {}
        self.pattern = re.compile(regex)
        self.outputs: list[tuple[str, Callable[[str], str] | None]] = []
        for s in names:
            header = sub.get(f"{s}.name", "")
            if not header:
                raise ConfigError(f"{where}: serializer '{s}' has no header name; add serializers.{s}.name = <header>")
            kind = sub.get(f"{s}.type", "default")
            if kind.lower() in ("default", PASSTHROUGH_SERIALIZER.lower()):
                self.outputs.append((header, None))
            elif kind == MILLIS_SERIALIZER:
                date_pattern = sub.get(f"{s}.pattern", "")
                if not date_pattern:
                    raise ConfigError(
                        f"{where}: serializer '{s}' of type {MILLIS_SERIALIZER} needs a date pattern; "
                        f"add serializers.{s}.pattern = yyyy-MM-dd HH:mm"
                    )
                try:
                    fmt = joda_to_strptime(date_pattern)
                except ValueError as exc:
                    raise ConfigError(f"{where}: serializers.{s}.pattern: {exc}")
                self.outputs.append((header, _millis_parser(fmt)))
            else:
                raise ConfigError(
                    f"{where}: serializers.{s}.type = {kind} is not a known serializer; "
                    f"use default or {MILLIS_SERIALIZER}"
                )
        known = {f"{s}.{k}" for s in names for k in ("name", "type", "pattern")}
        unknown = sorted(set(sub) - known)
        if unknown:
            listed = ", ".join(f"serializers.{k}" for k in unknown)
            log.warning("%s: ignoring keys of serializers not listed in 'serializers': %s", where, listed)
        self.outputs = self.outputs[: self.pattern.groups]
        self.parse_failures = 0
        self._warned_parse = False

    def intercept(self, events: list[Event]) -> list[Event]:
        search = self.pattern.search
        outputs = self.outputs
        if not outputs:
            return events
        for e in events:
            m = search(e.body.decode("utf-8", "replace"))
            if m is None:
                continue
            headers = e.headers
            for index, (header, convert) in enumerate(outputs, 1):
                value = m.group(index)
                if value is None:
                    continue
                if convert is None:
                    headers[header] = value
                else:
                    try:
                        headers[header] = convert(value)
                    except ValueError as exc:
                        self._parse_failed(header, value, exc)
        return events

    def _parse_failed(self, header: str, value: str, exc: ValueError) -> None:
        self.parse_failures += 1
        if not self._warned_parse:  # once, never per event
            self._warned_parse = True
            log.warning(
                "interceptor '%s': could not parse '%s' as a date for header '%s' (%s); such events keep "
                "going without the header (further failures are only counted); check serializers.*.pattern",
                self.name,
                value,
                header,
                exc,
            )


# -- search_replace -------------------------------------------------------------------------


def java_replacement(replacement: str, groups: int, group_names: dict[str, int] | None = None) -> str:
    """Translate a Java ``Matcher.replaceAll`` replacement (``$1``, ``${name}``, ``\\$``)
    into a :func:`re.sub` template. Raises ValueError where Java would throw.

    Java reads the longest ``$nn`` that still names an existing group (``$12`` is group 1
    followed by ``2`` when there are fewer than 12 groups).
    """
    names = group_names or {}
    out: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c == "\\":
            i += 1
            if i >= n:
                raise ValueError("character to be escaped is missing (a trailing backslash)")
            lit = replacement[i]
            out.append("\\\\" if lit == "\\" else lit)
            i += 1
        elif c == "$":
            i += 1
            if i >= n:
                raise ValueError("illegal group reference: '$' at the end")
            if replacement[i] == "{":
                end = replacement.find("}", i)
                if end < 0:
                    raise ValueError("named group reference is missing its closing '}'")
                name = replacement[i + 1 : end]
                if name not in names:
                    raise ValueError(f"no group with name {{{name}}}")
                out.append(f"\\g<{name}>")
                i = end + 1
            elif replacement[i].isdigit() and replacement[i].isascii():
                ref = int(replacement[i])
                if ref > groups:
                    raise ValueError(f"no group {ref} (the pattern has {groups})")
                i += 1
                while i < n and replacement[i].isascii() and replacement[i].isdigit():
                    nxt = ref * 10 + int(replacement[i])
                    if nxt > groups:
                        break
                    ref = nxt
                    i += 1
                out.append(f"\\g<{ref}>")
            else:
                raise ValueError(f"illegal group reference '${replacement[i]}' (use \\$ for a literal dollar sign)")
        else:
            out.append(c)
            i += 1
    return "".join(out)


class SearchAndReplaceInterceptor(_Base):
    """Replaces every match of ``searchPattern`` in the body (decoded with ``charset``) by
    ``replaceString`` with Java ``replaceAll`` semantics (``$1`` refers to group 1).

    Bytes that are not valid in ``charset`` survive unchanged (Flume replaces them with
    U+FFFD); bodies without a match are not re-encoded.
    """

    type_name = "search_replace"
    aliases = (_FQCN + "SearchAndReplaceInterceptor$Builder",)
    summary = "Regular-expression search and replace on the body"
    settings_schema = Schema(
        Setting("searchPattern", "regex", REQUIRED, "regular expression to search for"),
        Setting("replaceString", "str", "", "replacement; $1 refers to group 1"),
        Setting("charset", "charset", "UTF-8", "character set of the body"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        where = f"interceptor '{name}' (search_replace)"
        search = settings["searchPattern"]
        if not search:
            raise ConfigError(f"{where}: searchPattern is required; add searchPattern = <regular expression>")
        self.pattern = re.compile(search)
        replacement = settings["replaceString"] or ""
        try:
            self.template = java_replacement(replacement, self.pattern.groups, dict(self.pattern.groupindex))
        except ValueError as exc:
            raise ConfigError(f"{where}: replaceString '{replacement}': {exc}")
        self.charset: str = settings["charset"]

    batch_aware = True  # a column-wise batch gets a new bodies column, its headers as they are

    def intercept(self, events: AnyBatch) -> AnyBatch:  # type: ignore[override]
        if isinstance(events, Batch) and events.columnar:
            return self._intercept_columns(events)
        return self._intercept_events(as_events(events))

    def _intercept_columns(self, batch: Batch) -> AnyBatch:
        subn = self.pattern.subn
        template = self.template
        charset = self.charset
        bodies: list[bytes] = []
        add = bodies.append
        changed = False
        for body in batch.bodies:
            text, count = subn(template, body.decode(charset, "surrogateescape"))
            if count:
                changed = True
                add(text.encode(charset, "surrogateescape"))
            else:
                add(body)
        if not changed:
            return batch
        return _rebatch(bodies, batch)

    def _intercept_events(self, events: list[Event]) -> list[Event]:
        subn = self.pattern.subn
        template = self.template
        charset = self.charset
        for e in events:
            text, count = subn(template, e.body.decode(charset, "surrogateescape"))
            if count:
                e.body = text.encode(charset, "surrogateescape")
        return events


# -- UUID -----------------------------------------------------------------------------------


class UUIDInterceptor(_Base):
    """Sets a header to ``prefix`` + a random UUID (Flume's morphline-module
    ``UUIDInterceptor``, which has no short alias in Flume)."""

    type_name = "uuid"
    aliases = ("org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",)
    summary = "Set a header to a random UUID"
    settings_schema = Schema(
        Setting("headerName", "str", "id", "header to set"),
        Setting("preserveExisting", "bool", True, "keep a value the event already has"),
        Setting("prefix", "str", "", "text put before the UUID"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.header: str = settings["headerName"]
        self.preserve: bool = settings["preserveExisting"]
        self.prefix: str = settings["prefix"] or ""

    def intercept(self, events: list[Event]) -> list[Event]:
        header, prefix, uuid4 = self.header, self.prefix, uuid.uuid4
        preserve = self.preserve
        for e in events:
            headers = e.headers
            if preserve and header in headers:
                continue
            headers[header] = prefix + str(uuid4())
        return events


COMPONENTS: list[type[Interceptor]] = [
    TimestampInterceptor,
    HostInterceptor,
    StaticInterceptor,
    RemoveHeaderInterceptor,
    RegexFilteringInterceptor,
    RegexExtractorInterceptor,
    SearchAndReplaceInterceptor,
    UUIDInterceptor,
]

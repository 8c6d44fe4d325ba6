"""Paths built from event headers stay inside the directory the configuration names.

One rule for every sink that puts header values into paths (``hdfs.path = /logs/%{app}``):

* a header value is a run of path *names*, never a path of its own: a ``/`` inside it
  makes subdirectories (as in Flume), empty and ``.`` segments are dropped (as Hadoop's
  ``Path`` drops them, so the path is the one Flume writes);
* a value that would leave the configured directory or be reinterpreted is **refused**,
  never rewritten: a ``..`` segment (Hadoop's ``Path`` climbs out with it), the
  ``#LATEST`` marker (the ``hdfs`` client library redirects it to the newest file), a
  NUL or any other control character, a lone surrogate (no UTF-8 form), a segment over
  ``max_segment_bytes`` UTF-8 bytes, the destination's forbidden characters (``:`` on
  HDFS) and, as the first segment of the path, its reserved roots (HDFS's ``.reserved``);
* in a file *name* (``name=True``) a value may not contain ``/`` either.

Why refuse rather than escape: an escaped value puts the events in a directory the
configuration never named (a reader of ``/logs/<app>`` does not find ``/logs/..%2Fetc``),
and it differs from what Flume writes for the same event; a refused event goes to the
sink's dead-letter file (``errors.deadletter.directory``) with a reason that names the
header and its value, so nothing accepted is lost and the bad producer is found.
Everything else — unicode, spaces, ``%``, ``#``, ``?``, backslashes — is a plain name:
``%2e%2e`` is a directory named ``%2e%2e`` (clients percent-encode names in URLs), and a
value is never expanded again (``%{other}`` in a value stays as written).

Templates are checked once (:meth:`HeaderPathRule.check_template`); resolved paths are
checked per distinct value set (:meth:`HeaderPathRule.check`), so callers cache results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flafka.errors import ConfigError

LATEST = "#LATEST"
"""The ``hdfs`` (HdfsCLI) library's marker: ``dir/#LATEST`` becomes dir's newest entry."""

_SHOWN = 120


def shown(value: str) -> str:
    """``value`` quoted for a message: control characters escaped, long values cut."""
    text = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return repr(text)


class UnsafeHeaderPath(ValueError):
    """A path built from header values would leave its directory or be reinterpreted;
    ``str`` names the header(s), their values and the reason."""

    def __init__(self, message: str, headers: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.headers = tuple(headers)


def _bad_char(text: str, forbidden: str) -> str | None:
    """The first character of ``text`` no path may hold, described; None when all are fine."""
    for ch in text:
        if ch in forbidden:
            return f"contains {ch!r}"
        if ch < " " or "\x7f" <= ch <= "\x9f":
            return "contains the control character " + (r"\0 (NUL)" if ch == "\0" else repr(ch)[1:-1])
        if "\ud800" <= ch <= "\udfff":
            return f"contains the lone surrogate {repr(ch)[1:-1]} (not valid UTF-8)"
    return None


@dataclass(frozen=True)
class HeaderPathRule:
    """What a destination refuses in names beyond the common rule (see the module doc).

    ``forbidden_chars``: characters no name may hold (HDFS: ``:``). ``reserved_roots``:
    first segments with a special meaning (HDFS: ``.reserved``). ``max_segment_bytes``:
    the longest name in UTF-8 bytes (0: no limit).
    """

    forbidden_chars: str = ""
    reserved_roots: tuple[str, ...] = ()
    max_segment_bytes: int = 255
    _needles: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_needles", (*self.forbidden_chars, *self.reserved_roots))

    def value_problem(self, value: str, name: bool = False) -> str | None:
        """Why one header value cannot go into a path (a name when ``name``), or None."""
        bad = _bad_char(value, self.forbidden_chars)
        if bad:
            return bad
        if LATEST in value:
            return f"contains {LATEST}, the WebHDFS client's marker for 'the newest entry'"
        if name and "/" in value:
            return "contains '/', and it is used in a file name"
        for seg in value.split("/"):
            if seg == "..":
                return "has a '..' segment, which would climb out of the configured directory"
            if self.max_segment_bytes and len(seg.encode("utf-8", "surrogatepass")) > self.max_segment_bytes:
                return f"has a name longer than {self.max_segment_bytes} bytes"
        return None

    def _path_problem(self, segments: list[str], absolute: bool) -> str | None:
        for i, seg in enumerate(segments):
            if seg == "..":
                return "makes a '..' segment, which would climb out of the configured directory"
            if LATEST in seg:
                return f"makes {LATEST}, the WebHDFS client's marker for 'the newest entry'"
            bad = _bad_char(seg, self.forbidden_chars)
            if bad:
                return bad
            if self.max_segment_bytes and len(seg.encode("utf-8", "surrogatepass")) > self.max_segment_bytes:
                return f"makes a name longer than {self.max_segment_bytes} bytes"
            if i == 0 and absolute and seg in self.reserved_roots:
                return f"starts the path with '{seg}', a reserved directory"
        return None

    def _suspect(self, resolved: str) -> bool:
        """Anything that may break the rule (a superset, with plain substring tests: the
        slow path decides). ``isprintable`` is False for every control character and
        surrogate (and for some harmless characters, which the slow path lets through)."""
        if ".." in resolved or LATEST in resolved or not resolved.isprintable():
            return True
        if self.max_segment_bytes and len(resolved) * 4 > self.max_segment_bytes:
            return True
        return any(text in resolved for text in self._needles)

    def check(self, resolved: str, used: Sequence[tuple[str, str]], key: str, name: bool = False) -> str:
        """``resolved`` (a trusted template with the header values ``used`` substituted)
        without empty and ``.`` segments; raises UnsafeHeaderPath naming the header and
        value (``key``: the setting the template came from) when the rule refuses it.
        With no header values, ``resolved`` is only normalised (the template was checked).
        A file name (``name``) comes back as resolved."""
        if used and (self._suspect(resolved) or (name and "/" in resolved)):  # find what, and name it
            absolute = resolved.startswith("/") and not name
            for header, value in used:
                why = self.value_problem(value, name)
                if why:
                    raise UnsafeHeaderPath(f"header '{header}' = {shown(value)} {why}; {key} refuses it", [(header, value)])
            why = self._path_problem([s for s in resolved.split("/") if s and (name or s != ".")], absolute)
            if why:
                values = ", ".join(f"'{h}' = {shown(v)}" for h, v in used)
                raise UnsafeHeaderPath(f"{key} = {shown(resolved)} built from the header(s) {values} {why}; {key} refuses it", used)
        if name or not ("//" in resolved or "/./" in resolved or (resolved.endswith(("/", "/.")) and resolved != "/")):
            return resolved
        segments = [s for s in resolved.split("/") if s and s != "."]
        return "/" + "/".join(segments) if resolved.startswith("/") else "/".join(segments)

    def check_template(self, skeleton: str, key: str, name: bool = False) -> None:
        """Refuse a template whose own text (``skeleton``: the template with every escape
        replaced by a plain name) breaks the rule: ConfigError naming ``key``."""
        segments = [s for s in skeleton.split("/") if s and (name or s != ".")]
        why = self._path_problem(segments, skeleton.startswith("/") and not name)
        if why:
            raise ConfigError(f"{key}: the configured text {why.replace('makes', 'has', 1)}; write the path without it")


DEFAULT_RULE = HeaderPathRule()
"""The common rule with no destination-specific characters (local file systems)."""

HDFS_RULE = HeaderPathRule(forbidden_chars=":", reserved_roots=(".reserved",), max_segment_bytes=255)
"""HDFS: the NameNode refuses ``:`` in names (``DFSUtil.isValidName``), ``/.reserved/``
addresses files by inode (``/.reserved/.inodes/<id>``), and names are at most 255 bytes
(``dfs.namenode.fs-limits.max-component-length``)."""

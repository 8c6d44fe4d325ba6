"""Diagnostics: every configuration problem with file, line, key, what is wrong and a fix."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Diagnostic:
    severity: Literal["error", "warning"]
    message: str
    file: str = ""
    line: int = 0
    key: str = ""
    suggestion: str = ""

    def format(self) -> str:
        """``file:line: error: key: message`` plus an indented ``fix:`` line. Characters
        no output can encode (a lone surrogate from a ``\\uD800`` escape) are shown as
        ``\\ud800`` escapes."""
        where = self.file or "<config>"
        if self.line:
            where += f":{self.line}"
        head = f"{where}: {self.severity}: "
        if self.key:
            head += f"{self.key}: "
        text = head + self.message
        if self.suggestion:
            text += f"\n    fix: {self.suggestion}"
        return printable(text)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def printable(text: str) -> str:
    """``text`` with lone surrogates (which no encoding can write) as ``\\udXXX`` escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


BUILDING: ContextVar[bool] = ContextVar("flafka_config_building", default=False)
"""True while the loader calls a component's constructor: what the constructor logs
becomes a diagnostic, so console handlers drop it (see :func:`not_building`)."""


def not_building(record: object) -> bool:
    """A logging filter: False for records logged while the loader builds a component."""
    return not BUILDING.get()

"""Diagnostics: every configuration problem with file, line, key, what is wrong and a fix."""

from __future__ import annotations

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
        """``file:line: error: key: message`` plus an indented ``fix:`` line."""
        where = self.file or "<config>"
        if self.line:
            where += f":{self.line}"
        head = f"{where}: {self.severity}: "
        if self.key:
            head += f"{self.key}: "
        text = head + self.message
        if self.suggestion:
            text += f"\n    fix: {self.suggestion}"
        return text

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

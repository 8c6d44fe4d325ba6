"""Flume's ``ipFilterRules``: ``allow|deny:ip|name:<pattern>``, comma separated, the
first rule that matches decides; a connection no rule matches is accepted (Netty's
``RuleBasedIpFilter``). Patterns are globs (``*`` any run, ``?`` one character); a
``name`` rule matches the peer's reverse-DNS name (looked up only when such rules exist),
and ``name:localhost`` also matches the loopback addresses.
"""

from __future__ import annotations

import fnmatch
import re
import socket
from dataclasses import dataclass


class RuleError(ValueError):
    """A rule that does not parse; ``str`` names it and shows the syntax."""


@dataclass(frozen=True)
class Rule:
    allow: bool
    by_name: bool
    pattern: str
    regex: re.Pattern[str]

    def __str__(self) -> str:
        return f"{'allow' if self.allow else 'deny'}:{'name' if self.by_name else 'ip'}:{self.pattern}"


def parse_rules(text: str) -> list[Rule]:
    """Parse ``allow:ip:127.*,deny:name:*.example.com``. Raises :class:`RuleError`."""
    rules = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        parts = item.split(":", 2)
        if len(parts) != 3 or parts[0].lower() not in ("allow", "deny") or parts[1].lower() not in ("ip", "name") or not parts[2]:
            raise RuleError(
                f"ipFilterRules entry '{item}' is not <allow|deny>:<ip|name>:<pattern>, e.g. allow:ip:127.* or deny:name:*.example.com"
            )
        pattern = parts[2].strip()
        rules.append(Rule(parts[0].lower() == "allow", parts[1].lower() == "name", pattern, re.compile(fnmatch.translate(pattern.lower()))))
    return rules


_LOOPBACK = ("127.0.0.1", "::1")


def allowed(rules: list[Rule], ip: str) -> tuple[bool, Rule | None]:
    """(accepted, the rule that decided or None)."""
    name: str | None = None
    for rule in rules:
        if rule.by_name:
            if name is None:
                try:
                    name = socket.gethostbyaddr(ip)[0].lower()
                except OSError:
                    name = ""
            hit = bool(rule.regex.match(name)) or (rule.pattern.lower() == "localhost" and ip in _LOOPBACK)
        else:
            hit = bool(rule.regex.match(ip))
        if hit:
            return rule.allow, rule
    return True, None

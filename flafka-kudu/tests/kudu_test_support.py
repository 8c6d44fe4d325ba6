"""Helpers of flafka-kudu's tests: the ``kudu`` CLI (create tables, scan rows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

Cli = Callable[..., str]


def run_cli(cli_path: str, *args: str, timeout: float = 60.0) -> str:
    home = os.path.dirname(os.path.dirname(cli_path))
    env = {**os.environ, "LD_LIBRARY_PATH": os.path.join(home, "lib"), "SASL_PATH": os.path.join(home, "lib", "sasl2")}
    proc = subprocess.run([cli_path, *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"`kudu {' '.join(args[:3])}` failed: {(proc.stderr or proc.stdout)[-800:]}")
    return proc.stdout


def create_table(cli: Cli, master: str, name: str, columns: list[tuple[str, str, bool]], key: list[str], buckets: int = 2) -> str:
    """Create ``name`` with ``columns`` = [(name, TYPE, nullable)] and primary key ``key``."""
    spec = {
        "table_name": name,
        "schema": {
            "columns": [{"column_name": c, "column_type": t, "is_nullable": nullable} for c, t, nullable in columns],
            "key_column_names": key,
        },
        "partition": {"hash_partitions": [{"columns": key[:1], "num_buckets": buckets, "seed": 0}]},
        "num_replicas": 1,
    }
    cli("table", "create", master, json.dumps(spec))
    return name


_CELL = re.compile(r'(\w+) (\w+)=(NULL|"(?:[^"\\]|\\.)*"|[^,)]*)')


def _unescape(text: str) -> bytes:
    """The CLI prints strings and binaries C-escaped (\\x.., \\n, \\", \\\\)."""
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        b = raw[i]
        if b == 0x5C and i + 1 < len(raw):
            nxt = chr(raw[i + 1])
            if nxt == "x":
                out.append(int(raw[i + 2 : i + 4], 16))
                i += 4
                continue
            if nxt in "01234567":
                j = i + 1
                while j < len(raw) and j < i + 4 and chr(raw[j]) in "01234567":
                    j += 1
                out.append(int(raw[i + 1 : j], 8))
                i = j
                continue
            out += {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "\\": b"\\", "'": b"'", "0": b"\0"}.get(nxt, nxt.encode())
            i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


def parse_value(type_: str, text: str) -> Any:
    if text == "NULL":
        return None
    if text.startswith('"'):
        raw = _unescape(text[1:-1])
        return raw if type_ == "binary" else raw.decode("utf-8")
    if type_ == "bool":
        return text == "true"
    if type_ in ("float", "double"):
        return float(text)
    if type_.startswith("int"):
        return int(text)
    return text


def scan_rows(cli: Cli, master: str, table: str) -> list[dict[str, Any]]:
    out = cli("table", "scan", master, table, "-show_values=true", "-num_threads=1", "-fill_cache=false", timeout=120)
    rows = []
    for line in out.splitlines():
        if not line.startswith("("):
            continue
        row = {m.group(2): parse_value(m.group(1), m.group(3)) for m in _CELL.finditer(line[1:-1])}
        rows.append(row)
    return rows

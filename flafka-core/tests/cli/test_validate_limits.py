"""Huge configurations finish quickly or stop at a named limit (issue 17 item 2): each case
took over 120 s before (quadratic). The bounds are generous for a loaded CI machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flafka.cli import MAX_AGENTS_WITHOUT_NAME, main
from flafka.config.grammar import MAX_LISTED

BASE = "a.sources = r\na.channels = c\na.sources.r.type = seq\na.sources.r.channels = c\na.channels.c.type = memory\n"


def validate(path: Path, *args: str) -> tuple[Result, float]:
    started = time.monotonic()
    result = CliRunner().invoke(main, ["validate", "-f", str(path), *args])
    return result, time.monotonic() - started


@pytest.mark.timeout(120)
def test_ten_thousand_agents_without_n_stop_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "many.conf"
    path.write_text(
        "".join(
            BASE.replace("a.", f"ag{i}.") + f"ag{i}.sinks = k\nag{i}.sinks.k.type = null\nag{i}.sinks.k.channel = c\n"
            for i in range(10_000)
        )
    )
    result, elapsed = validate(path)
    assert result.exit_code == 2 and elapsed < 30
    assert "10,000 agents found" in result.output and f"checks at most {MAX_AGENTS_WITHOUT_NAME} agents" in result.output
    assert "-n AGENT" in result.output
    named, elapsed = validate(path, "-n", "ag7")
    assert named.exit_code == 0 and elapsed < 30, named.output
    assert "and 9989 more" in named.output  # the summary of the other agents stays one short line


@pytest.mark.timeout(120)
def test_ten_thousand_unlisted_names_against_ten_thousand_listed(tmp_path: Path) -> None:
    path = tmp_path / "unlisted.conf"
    listed = " ".join(f"snk{i}x" for i in range(10_000))
    path.write_text(
        BASE
        + f"a.sinks = k {listed}\na.sinks.k.type = null\na.sinks.k.channel = c\n"
        + "".join(f"a.sinks.snk{i}.type = null\n" for i in range(10_000))
    )
    result, elapsed = validate(path, "-n", "a")
    assert result.exit_code == 2 and elapsed < 30
    assert "sink 'snk9999' is configured but not listed in a.sinks" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 500  # the fix does not repeat the 10,000 names


@pytest.mark.timeout(120)
def test_a_megabyte_list_line_stops_at_the_list_limit(tmp_path: Path) -> None:
    path = tmp_path / "biglist.conf"
    names = " ".join(f"k{i}" for i in range(150_000))
    path.write_text(BASE + f"a.sinks = {names}\na.sinks.k.type = null\na.sinks.k.channel = c\n")
    assert path.stat().st_size > 1_000_000
    result, elapsed = validate(path, "-n", "a")
    assert result.exit_code == 2 and elapsed < 30
    assert f"sinks list names 150,000 components; flafka takes at most {MAX_LISTED:,} per list" in result.output
    assert "sink 'k9999' has no type" in result.output and "sink 'k10000' has no type" not in result.output

"""``flafka top``: a live view of a running agent read from its metrics endpoint.

``--once`` (or a stdout that is not a terminal) prints plain text and needs flafka-core
alone; the live view needs ``rich`` (``pip install 'flafka-core[top]'``). Rows are the
agent's sources, channels and sinks sorted by where events pile up: stuck sinks first
(backing off or dead), then the most events held (channel size, source events awaiting
delivery), then channel fill.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flafka.metrics.scrape import Reading, Row

DEFAULT_PORT = 41414  # flafka.metrics.http.DEFAULT_PORT (not imported: `flafka agent` starts faster)

MIN_WIDTH = 80
MIN_HEIGHT = 8
COLUMNS = ("KIND", "NAME", "TYPE", "IN/s", "OUT/s", "FILL", "BYTES", "IN FLIGHT", "ERRORS", "DEAD", "RETRIES", "STATE")
RICH_MISSING = "flafka top's live view needs rich: pip install 'flafka-core[top]' (or use `flafka top --once` for a plain snapshot)"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return "-"  # pragma: no cover


def uptime_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours}:{minutes:02d}:{secs:02d}"


def cells(row: Row) -> tuple[str, ...]:
    """The text of each of :data:`COLUMNS` for ``row``."""
    fill = "-"
    if row.kind == "channel" and row.size is not None:
        pct = row.fill
        fill = f"{pct:.1f}% {int(row.size):,}/{int(row.capacity or 0):,}" if pct is not None else f"{int(row.size):,}"
    nbytes = "-"
    if row.bytes is not None:
        nbytes = _size(row.bytes) + (f" / {_size(row.byte_capacity)}" if row.byte_capacity else "")
    in_flight = "-" if row.in_flight is None else f"{int(row.in_flight):,} {'ev' if row.in_flight_unit == 'events' else 'batches'}"
    return (
        row.kind,
        row.name,
        row.type,
        _rate(row.in_rate),
        _rate(row.out_rate),
        fill,
        nbytes,
        in_flight,
        _count(row.errors),
        _count(row.dead_letters),
        _count(row.retries),
        row.state,
    )


def header(url: str, reading: Reading) -> str:
    from flafka.metrics.scrape import agent_line

    name, uptime = agent_line(reading.doc)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f"agent '{name}'" if name else "agent"
    return f"flafka top: {who}, up {uptime_text(uptime)}, {url}, {stamp}"


def plain(url: str, prev: Reading | None, cur: Reading) -> str:
    """The plain-text snapshot (``--once``): a header line and aligned columns."""
    from flafka.metrics.scrape import rows

    table = [COLUMNS, *(cells(r) for r in rows(prev, cur))]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [header(url, cur)]
    for line in table:
        lines.append(
            "  ".join(
                text.ljust(widths[i]) if i < 3 or i == len(COLUMNS) - 1 else text.rjust(widths[i]) for i, text in enumerate(line)
            ).rstrip()
        )
    return "\n".join(lines)


def _rich_view(url: str, prev: Reading | None, cur: Reading | None, error: str, size: tuple[int, int]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from flafka.metrics.scrape import rows

    width, height = size
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return Text(
            f"terminal too small ({width}x{height}); flafka top needs at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge it", style="bold red"
        )
    parts: list[Any] = []
    if cur is not None:
        parts.append(Text(header(url, cur), style="bold"))
    if error:
        parts.append(Text(error, style="bold red"))
    if cur is not None:
        table = Table(expand=True, box=None, header_style="bold reverse", pad_edge=False)
        for i, col in enumerate(COLUMNS):
            table.add_column(col, justify="left" if i < 3 or i == len(COLUMNS) - 1 else "right", no_wrap=True)
        shown = rows(prev, cur)
        room = max(1, height - 4)
        for row in shown[:room]:
            style = ""
            if not row.alive or row.backoff:
                style = "red"
            elif row.fill is not None and row.fill >= 80:
                style = "yellow"
            table.add_row(*cells(row), style=style)
        parts.append(table)
        if len(shown) > room:
            parts.append(Text(f"... {len(shown) - room} more rows (enlarge the terminal)", style="dim"))
    parts.append(Text("Ctrl-C quits", style="dim"))
    return Group(*parts)


def live(url: str, interval: float, first: Reading, sleep: Callable[[float], None] = time.sleep) -> None:
    """Refresh the view every ``interval`` seconds until Ctrl-C."""
    from rich.console import Console
    from rich.live import Live

    from flafka.metrics.scrape import MetricsUnavailable, read

    console = Console()
    prev: Reading | None = None
    cur: Reading | None = first
    error = ""
    with Live(console=console, screen=True, auto_refresh=False, redirect_stderr=False) as view:
        while True:
            view.update(_rich_view(url, prev, cur, error, (console.size.width, console.size.height)), refresh=True)
            sleep(interval)
            try:
                nxt = read(url)
                prev, cur, error = cur, nxt, ""
            except MetricsUnavailable as exc:
                error = f"{exc} (retrying every {interval:g} s)"


@click.command("top")
@click.option(
    "--url",
    default=f"http://127.0.0.1:{DEFAULT_PORT}",
    show_default=True,
    metavar="URL",
    help="The agent's metrics endpoint (-Dflume.monitoring.port); /metrics is added when missing.",
)
@click.option("--once", is_flag=True, help="Print one plain snapshot (rates over --interval) and exit; needs no extra.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS", help="Refresh period.")
def top(url: str, once: bool, interval: float) -> None:
    """A live view of a running agent: events/s in and out per source, channel and sink,
    channel fill, events in flight, errors, dead letters, sink backoff, uptime.

    \b
    The agent must serve metrics: flafka agent ... -Dflume.monitoring.type=http -Dflume.monitoring.port=41414
    Exit status: 0 done (Ctrl-C), 1 the endpoint cannot be read, 2 the live view needs `rich`.
    """
    from flafka.metrics.scrape import MetricsUnavailable, metrics_url, read

    try:
        target = metrics_url(url)
        first = read(target)
    except MetricsUnavailable as exc:
        click.echo(f"flafka top: {exc}", err=True)
        sys.exit(1)
    if once or not sys.stdout.isatty():
        try:
            while True:
                time.sleep(interval)
                second = read(target)
                click.echo(plain(target, first, second))
                if once:
                    return
                click.echo()
                first = second
        except MetricsUnavailable as exc:
            click.echo(f"flafka top: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            return
    try:
        import rich  # noqa: F401
    except ImportError:
        click.echo(f"flafka top: {RICH_MISSING}", err=True)
        sys.exit(2)
    try:
        live(target, interval, first)
    except KeyboardInterrupt:
        return

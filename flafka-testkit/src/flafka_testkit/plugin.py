"""The test kit as a flafka plugin (entry point ``flafka: testkit``): adds ``flafka testkit``
and offers its test services. Importing it is cheap (the services load on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flafka.hookspecs import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def flafka_register_commands(cli: click.Group) -> None:
    from flafka_testkit.cli import testkit

    cli.add_command(testkit)


@hookimpl
def flafka_register_test_services() -> list[Any]:
    """The names of the services ``flafka_testkit.services.get_service`` provides."""
    from flafka_testkit.services import NAMES

    return list(NAMES)

"""A short fuzzing run of every target in ``targets.py`` (hypothesis), in every test run.

``FLAFKA_FUZZ_EXAMPLES`` sets the examples per target (default 300); each input must
finish within ``FLAFKA_FUZZ_DEADLINE_MS`` (default 2000) — a slower one is a hang. The
long run is ``python3 -m nox -s fuzz`` (atheris, ``run_atheris.py``).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st


def _targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flafka_fuzz_targets", Path(__file__).with_name("targets.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_MODULE = _targets()
TARGETS = _MODULE.TARGETS
SEEDS: dict[str, list[bytes]] = _MODULE.SEEDS
EXAMPLES = int(os.environ.get("FLAFKA_FUZZ_EXAMPLES", "300"))
DEADLINE = timedelta(milliseconds=int(os.environ.get("FLAFKA_FUZZ_DEADLINE_MS", "2000")))

HANG = float(os.environ.get("FLAFKA_FUZZ_HANG_SECONDS", "10"))


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt a target that runs longer than ``seconds`` (a hang) with an error that
    names the limit; hypothesis then shrinks and reports the input."""

    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"hang: the input took more than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Bytes that matter to the parsers, so that short random inputs hit their branches.
_ALPHABET = st.sampled_from(
    [b"=", b":", b" ", b"\\", b"\n", b"\r", b"#", b"!", b"${", b"}", b"env:", b"sys:", b"\\u", b"D800", b"00",
     b"a1", b"agent", b".", b"sources", b"channels", b"sinks", b"sinkgroups", b"type", b"memory", b"spooldir",
     b"r1", b"c1", b"k1", b"null", b"capacity", b"\xff", b"\xc3", b"\xa9", b"\x00", b"\t", b"\x80", b"9" * 30]
)  # fmt: skip
INPUTS = st.one_of(st.binary(max_size=512), st.lists(_ALPHABET, max_size=80).map(b"".join))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name: str) -> None:
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None, suppress_health_check=list(HealthCheck))
    @given(INPUTS)
    def run(data: bytes) -> None:
        with _time_limit(HANG):
            target(data)

    for seed in SEEDS.get(name, []):
        run = example(seed)(run)
    target(b"")  # one-time imports (the plugins, fastavro) do not count against the deadline
    run()

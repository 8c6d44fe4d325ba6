"""An event-driven source (its own thread, no runner) against SourceContract: the suite
drives pollable and event-driven sources alike. docs/plugins.md quotes this source as
the worked example of ``EventDrivenSource``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from flafka import REQUIRED, ChannelError, Event, EventDrivenSource, Schema, Setting, Settings
from flafka_testkit.contracts import SourceCapabilities, SourceContract

log = logging.getLogger(__name__)


class FollowSource(EventDrivenSource):
    """Follows one file from its start, a batch of whole lines at a time, from a thread of
    its own (as Flume's exec source follows ``tail -F``). Not replayable: a restart reads
    the file again from its start."""

    type_name = "test-follow"
    summary = "Follow the lines appended to one file (test kit example)"
    settings_schema = Schema(
        Setting("file", "str", REQUIRED, "the file to follow"),
        Setting("batchSize", "int", 100, "most lines per batch", minimum=1),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.path: str = settings["file"]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reading thread; it runs until ``stop``."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"source-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish and wait for it, at most 5 s. Idempotent."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
            if thread.is_alive():
                log.warning("source '%s': its thread did not finish within 5 s", self.name)

    def _run(self) -> None:
        offset = 0
        while not self._stopping.is_set():
            events, end = self._read(offset)
            if not events:
                self._stopping.wait(0.05)  # nothing new: look again soon
                continue
            if self._hand_over(events):
                offset = end

    def _hand_over(self, events: list[Event]) -> bool:
        """Put one batch into the channels, waiting (capped backoff) while they are full.
        False when the source stopped first (the batch was not taken)."""
        delay = 0.01
        while not self._stopping.is_set():
            try:
                self.processor.process_batch(events)  # no token: not replayable
                return True
            except ChannelError:  # full (back-pressure) or failing: keep the batch, retry
                self._stopping.wait(delay)
                delay = min(delay * 2, 1.0)
        return False

    def _read(self, offset: int) -> tuple[list[Event], int]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                lines = [fh.readline() for _ in range(self.batch_size())]
        except FileNotFoundError:
            return [], offset
        lines = [line for line in lines if line.endswith(b"\n")]
        return [Event(line[:-1]) for line in lines], offset + sum(map(len, lines))


class TestFollowSource(SourceContract):
    source_class = FollowSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"file": str(tmp_path / "in.log"), "batchSize": "100"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        with open(settings["file"], "ab") as fh:
            fh.write(b"".join(b + b"\n" for b in bodies))

"""A hypothesis state machine against a model queue: puts, takes (several open at once),
commits, rollbacks, checkpoints and restarts in any order, with small log files so they
roll over and get deleted. After every step the channel holds what the model holds; after
a restart, exactly the committed puts minus the committed takes, in put order."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fchelpers import crash, file_channel
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flafka.channel import TakeTransaction
from flafka.event import Event


class FileChannelMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fc-stateful-"))
        self.ch = file_channel(self.root, maxFileSize="2048", capacity="500", transactionCapacity="50")
        self.ch.start()
        self.next_id = 0
        self.queue: list[int] = []
        self.open: list[tuple[TakeTransaction, list[int]]] = []

    def teardown(self) -> None:
        if hasattr(self, "ch"):
            self.ch.stop()
            shutil.rmtree(self.root, ignore_errors=True)

    @precondition(lambda self: len(self.queue) + sum(len(t) for _, t in self.open) < 450)
    @rule(n=st.integers(1, 30), headers=st.booleans())
    def put(self, n: int, headers: bool) -> None:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        with self.ch.put_transaction() as tx:
            tx.put([Event(b"%d" % i, {"id": str(i)} if headers else None) for i in ids])
        self.queue += ids

    @precondition(lambda self: len(self.open) < 3)
    @rule(n=st.integers(1, 40))
    def take(self, n: int) -> None:
        tx = self.ch.take_transaction()
        got = [int(e.body) for e in tx.take(n)]
        expected, self.queue = self.queue[:n], self.queue[n:]
        assert got == expected
        self.open.append((tx, got))

    @precondition(lambda self: bool(self.open))
    @rule(which=st.integers(0, 2), commit=st.booleans())
    def finish(self, which: int, commit: bool) -> None:
        tx, got = self.open.pop(which % len(self.open))
        if commit:
            tx.commit()
        else:
            tx.rollback()
            self.queue = got + self.queue

    @rule()
    def checkpoint(self) -> None:
        assert self.ch.checkpoint()

    @rule()
    def restart(self) -> None:
        live = sorted(self.queue + [i for _, got in self.open for i in got])  # ids are in put order
        self.open = []
        crash(self.ch)
        self.ch = file_channel(self.root, maxFileSize="2048", capacity="500", transactionCapacity="50")
        self.ch.start()
        self.queue = live

    @invariant()
    def sizes_match(self) -> None:
        if hasattr(self, "ch"):
            assert self.ch.size() == len(self.queue)


FileChannelMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None, derandomize=True)
TestFileChannelMachine = FileChannelMachine.TestCase

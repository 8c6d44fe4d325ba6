"""Which file names a spooling directory source reads: ``includePattern`` and
``ignorePattern``, matched so that a pattern that backtracks catastrophically cannot freeze
the agent (issue 17).

Python's ``re`` holds the interpreter lock for the whole of a match: a pattern such as
``(a+)+$`` against ``aaaa...ab`` would stop every thread, the SIGTERM handler included, for
hours. Patterns that validate warns about (a quantified group whose body is quantified, see
:func:`flafka.settings.nested_quantifier`) are therefore matched in a helper process, one
name at a time, with a time limit; the source thread waits on a pipe (the lock released).
A name that takes longer is skipped (not read, left in place) with one error naming the
file, the pattern and the fix. Other patterns are matched in-process, as fast as before.
"""

from __future__ import annotations

import logging
import os
import re
import select
import struct
import subprocess
import sys
import time

from flafka.settings import nested_quantifier

log = logging.getLogger(__name__)

MATCH_SECONDS = 2.0
"""Time one file name may take to match in the helper before it is skipped."""

START_SECONDS = 60.0
"""Time the helper may take to start (a loaded machine starts Python slowly)."""

_LEN = struct.Struct(">I")

_HELPER = r"""
import re, signal, struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
def read():
    head = inp.read(4)
    if len(head) < 4:
        sys.exit(0)
    return inp.read(struct.unpack(">I", head)[0]).decode("utf-8", "surrogatepass")
include, ignore = re.compile(read(), re.DOTALL), re.compile(read(), re.DOTALL)
out.write(b"R"); out.flush()
while True:
    name = read()
    signal.alarm(10)  # SIGALRM's default action ends this process even inside re: no orphan if the agent dies meanwhile
    verdict = b"1" if include.fullmatch(name) and not ignore.fullmatch(name) else b"0"
    signal.alarm(0)
    out.write(verdict); out.flush()
"""


def _frame(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")  # file names carry undecodable bytes as lone surrogates
    return _LEN.pack(len(data)) + data


class NameFilter:
    """``accepts(name)``: the name matches ``include`` and not ``ignore`` (whole-name,
    ``re.DOTALL``, as the source always matched). Thread-compatible: one caller at a time,
    except :meth:`interrupt`, which any thread may call."""

    def __init__(self, source: str, include: str, ignore: str) -> None:
        self.source = source
        self.include_text, self.ignore_text = include, ignore
        self._include = re.compile(include, re.DOTALL)
        self._ignore = re.compile(ignore, re.DOTALL)
        risky = [(key, p, nested_quantifier(p)) for key, p in (("includePattern", include), ("ignorePattern", ignore))]
        self.guarded = [(key, p) for key, p, part in risky if part]
        """The settings matched in the helper (those that can backtrack catastrophically)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._seen: dict[str, bool] = {}
        self._interrupted = False

    def accepts(self, name: str) -> bool:
        if not self.guarded:
            return bool(self._include.fullmatch(name)) and not self._ignore.fullmatch(name)
        known = self._seen.get(name)
        if known is not None:
            return known
        if self._interrupted:
            return False  # stopping: decide this name at the next start
        verdict = self._guarded_match(name)
        if len(self._seen) >= 100_000:
            self._seen.clear()
        self._seen[name] = verdict
        return verdict

    def interrupt(self) -> None:
        """Make every undecided name a quick 'no' (the source is stopping)."""
        self._interrupted = True

    def close(self) -> None:
        """End the helper process (the source stops)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()

    def reset(self) -> None:
        """Ready for a new start: undecided names are matched again."""
        self._interrupted = False

    def _helper(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
            self._proc = proc
            assert proc.stdin is not None
            proc.stdin.write(_frame(self.include_text) + _frame(self.ignore_text))
            proc.stdin.flush()
            if self._answer(proc, START_SECONDS) != b"R":
                self.close()
                raise OSError("the pattern matching helper process did not start")
        return self._proc

    @staticmethod
    def _answer(proc: subprocess.Popen[bytes], seconds: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b""
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                return os.read(fd, 1)

    def _guarded_match(self, name: str) -> bool:
        try:
            proc = self._helper()
            assert proc.stdin is not None
            proc.stdin.write(_frame(name))
            proc.stdin.flush()
            answer = self._answer(proc, MATCH_SECONDS)
        except OSError as exc:  # no helper (out of processes): match here, as the source always did
            log.warning("source '%s': cannot start a process to match file names (%s); matching in the agent", self.source, exc)
            self.guarded = []
            return self.accepts(name)
        if answer in (b"0", b"1"):
            return answer == b"1"
        self.close()  # still matching (or dead): the next name gets a new helper
        shown = name if len(name) <= 80 else f"{name[:60]}... ({len(name)} characters)"
        keys = " / ".join(f"{key} '{pattern}'" for key, pattern in self.guarded)
        log.error(
            "source '%s': matching the file name %r against %s took more than %g s (catastrophic backtracking); "
            "the file is not read and stays in spoolDir. Fix: rewrite the pattern without a quantifier on a quantified "
            "group (e.g. (ab)+ instead of (a+b?)+), or rename the file",
            self.source, shown, keys, MATCH_SECONDS,
        )  # fmt: skip
        return False

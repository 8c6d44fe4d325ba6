"""Power-loss simulation for the file channel (ALICE/CrashMonkey style, pure Python).

:class:`RecordingIO` is a :class:`~flafka.channels.file.fileio.FileIO` that performs every
call and records it: create, write, fsync/fdatasync, directory fsync, rename, truncate,
unlink. :func:`crash_state` replays a prefix of that log onto a model file system that
knows what was made durable, and writes out one state a power loss at that point could
leave: file contents keep what was synced plus a random prefix of the later writes (the
last one torn at a random byte, or all of them dropped); directory changes (creations,
renames, removals) keep what a directory fsync made durable plus a random prefix of the
later ones.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass, field

from flafka.channels.file.fileio import FileIO

Op = tuple  # ("create", path) | ("write", path, offset, data) | ("sync", path) | ("syncdir", dir)
#             | ("truncate", path, size) | ("rename", src, dst) | ("unlink", path)


class RecordingIO(FileIO):
    """Performs and records every change to disk. ``ops`` is the log, in call order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._paths: dict[int, str] = {}
        self._lock = threading.Lock()

    def _rec(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def create(self, path: str) -> int:
        fd = super().create(path)
        self._paths[fd] = path
        self._rec(("create", path))
        return fd

    def open_write(self, path: str) -> int:
        fd = super().open_write(path)
        self._paths[fd] = path
        return fd

    def pwritev(self, fd: int, bufs: list[bytes], offset: int) -> None:
        super().pwritev(fd, bufs, offset)
        self._rec(("write", self._paths[fd], offset, b"".join(bufs)))

    def fdatasync(self, fd: int) -> None:
        super().fdatasync(fd)
        self._rec(("sync", self._paths[fd]))

    def fsync(self, fd: int) -> None:
        super().fsync(fd)
        self._rec(("sync", self._paths[fd]))

    def fsync_dir(self, path: str) -> None:
        super().fsync_dir(path)
        self._rec(("syncdir", path))

    def truncate(self, fd: int, size: int) -> None:
        super().truncate(fd, size)
        self._rec(("truncate", self._paths[fd], size))

    def rename(self, src: str, dst: str) -> None:
        super().rename(src, dst)
        self._rec(("rename", src, dst))

    def unlink(self, path: str) -> None:
        super().unlink(path)
        self._rec(("unlink", path))

    def close(self, fd: int) -> None:
        super().close(fd)
        self._paths.pop(fd, None)

    def mark(self) -> int:
        """The number of operations recorded so far (a point in the log)."""
        with self._lock:
            return len(self.ops)


@dataclass
class _Inode:
    durable: bytearray = field(default_factory=bytearray)
    pending: list[tuple] = field(default_factory=list)  # ("write", offset, data) | ("truncate", size)


def _apply_content(data: bytearray, op: tuple, torn: int | None = None) -> None:
    if op[0] == "write":
        _, offset, payload = op
        if torn is not None:
            payload = payload[:torn]
        if len(data) < offset:
            data.extend(bytes(offset - len(data)))
        data[offset : offset + len(payload)] = payload
    else:
        del data[op[1] :]


class Model:
    """The file system as a power loss would find it, built from a prefix of the log."""

    def __init__(self) -> None:
        self.inodes: dict[int, _Inode] = {}
        self.names: dict[str, int] = {}
        self.durable_names: dict[str, int] = {}
        self.dir_pending: dict[str, list[tuple]] = {}
        self._next = 0

    def apply(self, op: Op) -> None:
        kind = op[0]
        if kind == "create":
            self._next += 1
            self.inodes[self._next] = _Inode()
            self.names[op[1]] = self._next
            self.dir_pending.setdefault(os.path.dirname(op[1]), []).append(("link", op[1], self._next))
        elif kind in ("write", "truncate"):
            inode = self.inodes[self.names[op[1]]]
            inode.pending.append(("write", op[2], op[3]) if kind == "write" else ("truncate", op[2]))
        elif kind == "sync":
            inode = self.inodes[self.names[op[1]]]
            for p in inode.pending:
                _apply_content(inode.durable, p)
            inode.pending = []
        elif kind == "syncdir":
            for change in self.dir_pending.pop(op[1], []):
                self._dir_change(self.durable_names, change)
        elif kind == "rename":
            ino = self.names.pop(op[1])
            self.names[op[2]] = ino
            self.dir_pending.setdefault(os.path.dirname(op[2]), []).append(("rename", op[1], op[2]))
        elif kind == "unlink":
            self.names.pop(op[1])
            self.dir_pending.setdefault(os.path.dirname(op[1]), []).append(("unlink", op[1]))

    @staticmethod
    def _dir_change(names: dict[str, int], change: tuple) -> None:
        if change[0] == "link":
            names[change[1]] = change[2]
        elif change[0] == "rename":
            if change[1] in names:
                names[change[2]] = names.pop(change[1])
        else:
            names.pop(change[1], None)

    def crash(self, rng: random.Random) -> dict[str, bytes]:
        """One state a power loss now could leave: path -> content."""
        names = dict(self.durable_names)
        for changes in self.dir_pending.values():
            for change in changes[: rng.randint(0, len(changes))]:
                self._dir_change(names, change)
        out: dict[str, bytes] = {}
        for path, ino in names.items():
            inode = self.inodes[ino]
            data = bytearray(inode.durable)
            pending = inode.pending
            if pending and rng.random() < 0.75:
                keep = rng.randint(1, len(pending))
                for p in pending[: keep - 1]:
                    _apply_content(data, p)
                last = pending[keep - 1]
                torn = rng.randint(0, len(last[2])) if last[0] == "write" else None
                _apply_content(data, last, torn)
            out[path] = bytes(data)
        return out


def crash_state(ops: list[Op], point: int, rng: random.Random) -> dict[str, bytes]:
    """Files a power loss after ``ops[:point]`` could leave."""
    model = Model()
    for op in ops[:point]:
        model.apply(op)
    return model.crash(rng)


def materialize(files: dict[str, bytes], old_root: str, new_root: str, dirs: list[str]) -> None:
    """Write ``files`` (paths under ``old_root``) under ``new_root``; create ``dirs`` there too."""
    for d in dirs:
        os.makedirs(os.path.join(new_root, os.path.relpath(d, old_root)), exist_ok=True)
    for path, data in files.items():
        target = os.path.join(new_root, os.path.relpath(path, old_root))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)

"""The file channel's thin I/O layer: every call that changes what is on disk goes
through one :class:`FileIO` object, so a test can record (or fail) each one.

Only state-changing calls are here (create, write, sync, rename, truncate, unlink,
directory sync) plus the free-space probe; reads use plain ``os.pread``.
"""

from __future__ import annotations

import os

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))
"""Buffers per ``writev`` (POSIX guarantees 16; Linux allows 1024)."""


class FileIO:
    """Plain POSIX I/O. Subclasses (the power-loss recorder, fault injectors) override
    single methods; the channel never calls ``os`` directly for a change to disk."""

    def create(self, path: str) -> int:
        """Create ``path`` (it must not exist) for writing; return its descriptor."""
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)

    def open_write(self, path: str) -> int:
        """Open an existing ``path`` for writing (no truncation)."""
        return os.open(path, os.O_WRONLY | _CLOEXEC)

    def pwritev(self, fd: int, bufs: list[bytes], offset: int) -> None:
        """Write ``bufs`` at ``offset``, all of them (short writes are continued)."""
        for i in range(0, len(bufs), IOV_MAX):
            chunk = bufs[i : i + IOV_MAX]
            total = sum(map(len, chunk))
            written = os.pwritev(fd, chunk, offset)
            if written < total:
                rest = b"".join(chunk)[written:]
                pos = offset + written
                while rest:
                    n = os.pwrite(fd, rest, pos)
                    rest = rest[n:]
                    pos += n
            offset += total

    def fdatasync(self, fd: int) -> None:
        """Make the data written to ``fd`` durable (and the size an append changed)."""
        (getattr(os, "fdatasync", None) or os.fsync)(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def fsync_dir(self, path: str) -> None:
        """Make the entries of directory ``path`` (creations, renames, removals) durable."""
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def close(self, fd: int) -> None:
        os.close(fd)

    def free_space(self, path: str) -> int:
        """Bytes an unprivileged process may still write on the file system of ``path``."""
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize


def write_file(io: FileIO, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably: temp file, fsync, rename, fsync
    of the directory."""
    tmp = path + ".tmp"
    try:
        io.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = io.create(tmp)
    try:
        io.pwritev(fd, [data], 0)
        io.fsync(fd)
    finally:
        io.close(fd)
    io.rename(tmp, path)
    io.fsync_dir(os.path.dirname(path) or ".")

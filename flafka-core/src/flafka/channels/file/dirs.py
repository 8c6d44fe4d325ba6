"""The channel's directories: creation, the lock that keeps a second agent out, and the
check that refuses a directory Apache Flume's file channel wrote (never modified)."""

from __future__ import annotations

import errno
import fcntl
import os
import re

from flafka.errors import ConfigError

LOCK = "flafka.lock"
_FLUME_CHECKPOINT = ("checkpoint.meta", "inflightputs", "inflighttakes", "queueset", "in_use.lock", "checkpoint")
_FLUME_DATA = re.compile(r"^(log-\d+(\.meta)?|in_use\.lock)$")


def flume_files(path: str, kind: str) -> list[str]:
    """Names in ``path`` that Apache Flume's file channel writes (``kind``: checkpoint or data)."""
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
    if kind == "checkpoint":
        return sorted(n for n in names if n in _FLUME_CHECKPOINT)
    return sorted(n for n in names if _FLUME_DATA.match(n))


def refuse_flume(channel: str, key: str, path: str, kind: str) -> None:
    found = flume_files(path, kind)
    if found:
        raise ConfigError(
            f"channel '{channel}': {key} {path} holds Apache Flume file-channel files ({', '.join(found[:4])}); flafka's "
            f"file channel has its own format and never reads or changes Flume's. Drain the Flume channel with Flume "
            f"first, or point {key} at an empty directory"
        )


def prepare(channel: str, key: str, path: str) -> None:
    """Create ``path`` if needed and check it is a writable directory."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"channel '{channel}': {key} {path} cannot be created: {exc.strerror}; fix the path or its permissions")
    if not os.path.isdir(path):
        raise ConfigError(f"channel '{channel}': {key} {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"channel '{channel}': {key} {path} is not writable by this user; fix its permissions")


class DirLock:
    """An exclusive ``flock`` on ``<dir>/flafka.lock``, which holds the owner's PID."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def acquire(self, channel: str, key: str) -> None:
        lock_path = os.path.join(self.path, LOCK)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            except OSError:
                pass
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f"process {holder}" if holder else "another process"
                if holder == str(os.getpid()):
                    who = f"another file channel of this agent (process {holder}); each file channel needs its own {key}"
                raise ConfigError(
                    f"channel '{channel}': {key} {self.path} is in use by {who} (lock {lock_path}); two agents cannot "
                    f"share a file channel's directories: stop the other agent or give this channel its own {key}"
                )
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1

"""The ``hdfs`` sink (Flume's ``HDFSEventSink``) over WebHDFS, with local staging.

Delivery contract — what "delivered" means here:

* ``send(events)`` resolves each event's directory and file prefix (``hdfs.path``,
  ``hdfs.filePrefix`` escapes; header values that would lead out of ``hdfs.path`` refuse
  the event for good, see :mod:`flafka.header_paths`), encodes the events in the output format and appends them
  (in memory) to the *staging file* of that bucket's open HDFS file, then hands the touched
  files to the syncer thread (:class:`~flafka_hdfs.staging.Syncer`), which writes them
  and ``fdatasync``s them. The returned ``wait()`` blocks until every staging file the
  batch touched is synced past the batch's end; only then does the runtime commit the
  channel take: **an event is delivered once it is synced in the staging directory**.
  The runtime sends up to ``max_pending_batches`` (``hdfs.maxPendingBatches``) batches before it waits for the oldest,
  so one sync covers every batch appended before it began (group commit). ``write`` is
  ``send(events).wait()`` (retries, sink groups). The staging directory must be on a
  durable local disk; losing that disk loses the staged events not uploaded yet.
* A failed write or sync of a staging file fails every batch (or the part of a batch) in
  that file that was not synced yet — nothing of it is committed — and the file takes no
  more batches: it is cut back to its last synced batch and uploaded as such.
* Files roll (``hdfs.rollInterval``, ``rollSize``, ``rollCount``, ``idleTimeout``,
  ``maxOpenFiles`` closing the least recently used writer, ``stop``) in ``send`` and
  ``tick``. A rolled file goes through the syncer first (synced, closed), then it is
  uploaded in the background, write-once (CREATE with overwrite under its in-use name,
  size check, RENAME to the final name — never APPEND, which WebHDFS cannot make durable
  or idempotent, HDFS-9020), and its staging file is deleted after the rename.
* After a crash, ``start()`` cuts torn tails off staging files (a batch that was being
  written was never committed) and uploads every staging file left: a final name appears
  only with its whole content, nothing committed is lost, and a replay of an upload that
  already finished is recognised by the final file's size.
* While HDFS is down, sends go on locally; uploads are retried with capped exponential
  backoff (``hdfs.retryInterval`` is the cap). Once the staging directory holds more than
  ``hdfs.stagingMaxBytes``, ``send`` raises RetriableError naming HDFS's last error and
  the fix, so the channel fills and the sources back off.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import heapq
import itertools
import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flafka.batch import AnyBatch, bodies_of, header_maps_of, subset
from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.header_paths import HDFS_RULE, UnsafeHeaderPath
from flafka.serializers import resolve_serializer, serializer_or_raise
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, PendingWrite, Sink
from flafka_hdfs import client as webhdfs
from flafka_hdfs.path_escapes import Host, MissingTimestamp, PathTemplate, parse, skeleton, time_zone, unknown_escapes
from flafka_hdfs.staging import Payload, Scanned, StagingDir, StagingFile, StagingLocked, Syncer
from flafka_hdfs.writers import Codec, FileEncoder, OutputFormat, codec_for

log = logging.getLogger(__name__)

FILE_TYPES = ("SequenceFile", "DataStream", "CompressedStream")


def default_staging_root() -> Path:
    return Path(os.environ.get("FLAFKA_CACHE_DIR") or Path.home() / ".cache" / "flafka").expanduser() / "hdfs-staging"


@dataclass
class _OpenFile:
    """One open HDFS file: its staging file, encoder and roll bookkeeping."""

    key: tuple[str, str]
    staging: StagingFile
    encoder: FileEncoder
    opened: float
    last_write: float
    events: int = 0
    raw_bytes: int = 0


_Group = tuple[AnyBatch, "list[int] | None"]
"""Events of one bucket and their indices in the batch (None: the whole batch, in order)."""

_Target = tuple[StagingFile, int, int, int, "list[int] | None"]
"""A batch's part in one staging file: (file, end offset, first, stop, indices) — the part
is events ``indices[first:stop]`` of the batch (``range(first, stop)`` when indices is None)."""


class _PendingSync(PendingWrite):
    """A batch appended to its staging files; ``wait`` blocks until the syncer made every
    part durable (group commit) and reports what ``write`` would have."""

    __slots__ = ("failed", "n", "reason", "sink", "targets")

    def __init__(self, sink: HdfsSink, targets: list[_Target], n: int, failed: list[int], reason: str) -> None:
        self.sink = sink
        self.targets = targets
        self.n = n
        self.failed = failed
        self.reason = reason

    def wait(self) -> BatchOutcome | None:
        syncer = self.sink.syncer
        lost: set[int] = set()
        error: tuple[StagingFile, OSError] | None = None
        for staging, end, first, stop, idx in self.targets:
            exc = syncer.wait(staging, end)
            if exc is not None:
                error = (staging, exc)
                lost.update(idx[first:stop] if idx is not None else range(first, stop))
        if error is None:
            if self.failed:
                return BatchOutcome(failed=self.failed, error=PermanentError(self.reason), retriable=False)
            return None
        staging, exc = error
        not_durable = len(lost)
        lost.update(self.failed)
        whole = len(lost) >= self.n
        what = "the batch stays in the channel" if whole else f"{not_durable} of {self.n} events are not synced and are retried"
        message = (
            f"sink '{self.sink.name}': cannot write or sync the staging file {staging.path} ({exc.strerror or exc}); {what} "
            f"(into a new staging file) — free space or fix that disk, or set hdfs.stagingDir to a healthy local disk"
        )
        if whole:
            raise RetriableError(message)  # nothing of the batch was delivered: it rolls back
        return BatchOutcome(failed=sorted(lost), error=RetriableError(message), retriable=True)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    path: Path = field(compare=False)
    valid_length: int = field(compare=False)
    payload_size: int = field(compare=False)
    meta: dict[str, Any] = field(compare=False)
    attempts: int = field(default=0, compare=False)
    alternate: int = field(default=0, compare=False)


class Uploader:
    """Background threads that upload rolled staging files and retry with backoff."""

    def __init__(self, sink: HdfsSink, threads: int) -> None:
        self.sink = sink
        self.threads = max(1, threads)
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._inflight = 0
        self._parked: list[_Job] = []
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self.pending_bytes = 0
        self.last_error = ""
        self.last_error_at = 0.0
        self.uploaded_files = 0
        self.uploaded_bytes = 0

    def start(self) -> None:
        self._stopping = False
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"hdfs-upload-{self.sink.name}-{i}", daemon=True)
            t.start()
            self._workers.append(t)

    def submit(self, path: Path, valid_length: int, payload_size: int, meta: dict[str, Any]) -> None:
        job = _Job(time.monotonic(), next(self._seq), path, valid_length, payload_size, meta)
        with self._cond:
            heapq.heappush(self._heap, job)
            self.pending_bytes += valid_length
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._inflight + len(self._parked)

    def retry_now(self) -> None:
        """Make every waiting job due now (used by stop and tests)."""
        with self._cond:
            now = time.monotonic()
            for job in self._heap:
                job.due = now
            heapq.heapify(self._heap)
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (parked jobs excepted)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        self._workers = [t for t in self._workers if t.is_alive()]

    def _next(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        self._inflight += 1
                        return heapq.heappop(self._heap)
                    self._cond.wait(min(wait, 1.0))
                else:
                    self._cond.wait(1.0)
            return None

    def _run(self) -> None:
        client = None
        target = None
        while True:
            job = self._next()
            if job is None:
                return
            try:
                if client is None or target is not self.sink.target:  # a new target: no session to the old one
                    target = self.sink.target
                    client = self.sink.new_client()
                self._upload(client, job)
            except Exception as exc:
                client = None  # a fresh session (and address) for the retry
                self._failed(job, exc)
            else:
                with self._cond:
                    self.pending_bytes -= job.valid_length
                    self.uploaded_files += 1
                    self.uploaded_bytes += job.payload_size
            finally:
                with self._cond:
                    self._inflight -= 1
                    self._cond.notify_all()

    def _upload(self, client: Any, job: _Job) -> None:
        meta = job.meta
        if job.payload_size == 0:
            job.path.unlink(missing_ok=True)
            return
        final, inuse = meta["final"], meta["inuse"]
        if job.alternate:
            final = f"{meta['prefix']}.{meta['counter']}-{job.alternate}{meta['suffix']}"
            inuse = f"{meta['inUsePrefix']}{final}{meta['inUseSuffix']}"

        def payload() -> Any:
            return Payload(job.path, job.valid_length, job.payload_size)

        try:
            written = webhdfs.upload(client, payload, job.payload_size, meta["directory"], inuse, final)
        except FileExistsError as exc:
            job.alternate += 1
            log.warning(
                "sink '%s': %s already exists with other content; the staged file goes to the next free name (-%d)",
                self.sink.name,
                exc,
                job.alternate,
            )
            raise
        job.path.unlink(missing_ok=True)
        if self.last_error:
            log.info("sink '%s': HDFS accepts files again (%s)", self.sink.name, written)
            self.last_error = ""
        log.debug("sink '%s': uploaded %s (%d bytes)", self.sink.name, written, job.payload_size)

    def _failed(self, job: _Job, exc: Exception) -> None:
        sink = self.sink
        path = f"{job.meta['directory'].rstrip('/')}/{job.meta['inuse']}"
        if isinstance(exc, FileExistsError):
            message = f"{exc} exists"
            delay = 0.0
        else:
            job.attempts += 1
            message = webhdfs.describe(exc, path, sink.target.url, sink.auth.user)
            delay = min(sink.retry_cap, 0.5 * 2 ** min(job.attempts - 1, 20))
            delay = random.uniform(delay / 2, delay)
        with self._cond:
            sink.counter.connection_failed_count += 1
            first = message != self.last_error
            self.last_error = message
            self.last_error_at = time.time()
            tries = sink.close_tries
            if tries and job.attempts >= tries:
                self._parked.append(job)
                log.error(
                    "sink '%s': %s — gave up after %d tries (hdfs.closeTries); %s stays staged and is uploaded when the agent restarts",
                    sink.name,
                    message,
                    job.attempts,
                    job.path,
                )
                return
            job.due = time.monotonic() + delay
            heapq.heappush(self._heap, job)
        if first or job.attempts in (1, 10) or job.attempts % 100 == 0:
            log.error("sink '%s': %s (retrying in %.1f s, attempt %d)", sink.name, message, delay, job.attempts)


class HdfsSink(Sink):
    """Writes events to files in HDFS through WebHDFS, staging each open file locally."""

    type_name = "hdfs"
    aliases = ("org.apache.flume.sink.hdfs.HDFSEventSink",)
    summary = "Write events to HDFS files over WebHDFS (write-once uploads from a local staging directory)"
    batch_aware = True
    """Takes column-wise batches: bucketing reads header maps (never builds events), and each
    bucket's part of a batch (column-wise when the batch is) goes to a batch-aware
    serializer (TEXT) or the SequenceFile encoder as it is."""
    batch_size_key = "hdfs.batchSize"
    max_pending_batches = 16
    """Batches appended and awaiting their sync at once (the runtime's pipelining; per sink
    ``hdfs.maxPendingBatches``): the runtime waits for the oldest only once that many are
    appended, and that wait's sync covers them all (group commit)."""
    settings_schema = Schema(
        Setting(
            "hdfs.path",
            "str",
            REQUIRED,
            "directory (hdfs://namenode/path, hdfs://nameservice/path, webhdfs://host:port/path or /path); escapes allowed, "
            "header values never lead out of it",
        ),
        Setting("hdfs.filePrefix", "str", "FlumeData", "file name prefix (escapes allowed)"),
        Setting("hdfs.fileSuffix", "str", "", "file name suffix (no dot added); default: the codec's extension"),
        Setting("hdfs.inUsePrefix", "str", "", "prefix of a file's name while it is being written"),
        Setting("hdfs.inUseSuffix", "str", ".tmp", "suffix of a file's name while it is being written"),
        Setting("hdfs.emptyInUseSuffix", "bool", False, "no in-use suffix at all", since="1.9"),
        Setting("hdfs.rollInterval", "int", 30, "seconds before a file is rolled; 0 = never", minimum=0),
        Setting("hdfs.rollSize", "int", 1024, "bytes of event bodies before a file is rolled; 0 = never", minimum=0),
        Setting("hdfs.rollCount", "int", 10, "events before a file is rolled; 0 = never", minimum=0),
        Setting("hdfs.idleTimeout", "int", 0, "seconds without writes before a file is closed; 0 = never", minimum=0),
        Setting("hdfs.batchSize", "int", 100, "events taken per transaction and fsynced together", minimum=1),
        Setting("hdfs.codeC", "str", "", "gzip, bzip2, snappy, deflate or default (DefaultCodec)"),
        Setting("hdfs.fileType", "enum", "SequenceFile", "SequenceFile, DataStream or CompressedStream", choices=FILE_TYPES),
        Setting("hdfs.maxOpenFiles", "int", 5000, "open files at most; the least recently used is closed", minimum=1),
        Setting("hdfs.minBlockReplicas", "int", 0, "accepted for compatibility; WebHDFS uses the cluster's replication", minimum=0),
        Setting("hdfs.writeFormat", "enum", "Writable", "SequenceFile value: Writable or Text", choices=("Writable", "Text")),
        Setting("hdfs.threadsPoolSize", "int", 10, "upload threads", minimum=1),
        Setting("hdfs.rollTimerPoolSize", "int", 1, "accepted for compatibility (rolls run on the sink's thread)", minimum=1),
        Setting("hdfs.kerberosPrincipal", "str", "", "Kerberos principal for WebHDFS (SPNEGO)"),
        Setting("hdfs.kerberosKeytab", "str", "", "keytab of hdfs.kerberosPrincipal"),
        Setting("hdfs.proxyUser", "str", "", "user to impersonate (WebHDFS doas)"),
        Setting("hdfs.round", "bool", False, "round the event time down in time escapes"),
        Setting("hdfs.roundValue", "int", 1, "round down to a multiple of this many units", minimum=1),
        Setting("hdfs.roundUnit", "enum", "second", "second, minute or hour", choices=("second", "minute", "hour")),
        Setting("hdfs.timeZone", "str", "", "time zone of time escapes (e.g. UTC, America/Los_Angeles); default local"),
        Setting("hdfs.useLocalTimeStamp", "bool", False, "use the local clock instead of the timestamp header"),
        Setting("hdfs.callTimeout", "int", 30000, "milliseconds a WebHDFS request may take", minimum=1),
        Setting("hdfs.closeTries", "int", 0, "upload+rename attempts per file before giving up until restart; 0 = forever", minimum=0),
        Setting("hdfs.retryInterval", "int", 180, "seconds: the longest wait between upload attempts", minimum=0),
        Setting(
            "serializer", "str", "TEXT", "DataStream/CompressedStream: TEXT, HEADER_AND_TEXT, avro_event, AvroEventSerializer or a plugin's"
        ),
        Setting("serializer.*", "map", None, "the serializer's own keys (flafka describe NAME --kind serializer)"),
        Setting(
            "hdfs.webhdfs.url",
            "str",
            "",
            "flafka: WebHDFS address(es), http://namenode:9870 (';' between HA NameNodes), or hdfs://authority looked up in "
            "Hadoop's configuration; default: found from hdfs.path (docs/hdfs.md)",
        ),
        Setting("hdfs.webhdfs.user", "str", "", "flafka: user.name for simple authentication (default $HADOOP_USER_NAME or the login)"),
        Setting("hdfs.webhdfs.token", "str", "", "flafka: a delegation token (instead of Kerberos)", secret=True),
        Setting(
            "hdfs.webhdfs.kerberos.mutualAuth",
            "enum",
            "OPTIONAL",
            "flafka: Kerberos mutual auth",
            choices=("REQUIRED", "OPTIONAL", "DISABLED"),
        ),
        Setting("hdfs.webhdfs.ssl.verify", "str", "true", "flafka: verify the server certificate: true, false or a CA bundle path"),
        Setting("hdfs.webhdfs.ssl.certFile", "str", "", "flafka: client certificate (PEM) for TLS"),
        Setting("hdfs.webhdfs.ssl.keyFile", "str", "", "flafka: client key (PEM) for TLS"),
        Setting(
            "hdfs.stagingDir",
            "str",
            "",
            "flafka: local staging directory on a durable disk (see docs/hdfs.md)",
        ),
        Setting("hdfs.stagingMaxBytes", "int", 4 * 1024**3, "flafka: staged bytes before write() pushes back", minimum=1),
        Setting(
            "hdfs.maxPendingBatches",
            "int",
            16,
            "flafka: batches appended and awaiting one shared fdatasync; also the most batches delivered twice after a crash",
            minimum=1,
        ),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = _serializer_problems(settings)
        if any(p.severity == "error" for p in problems):
            return problems
        try:
            cfg = _Config(settings)
        except ConfigError as exc:
            text = str(exc)
            names = ("hdfs.filePrefix", "hdfs.fileSuffix", "hdfs.inUsePrefix", "hdfs.inUseSuffix", "hdfs.webhdfs.url")
            key = next((k for k in names if text.startswith(k)), "hdfs.path")
            problems.append(Problem(key, text))
            return problems
        if cfg.target.assumed:
            key = "hdfs.webhdfs.url" if settings["hdfs.webhdfs.url"] else "hdfs.path"
            problems.append(Problem(key, cfg.target.how, severity="warning"))
        path = settings["hdfs.path"] or ""
        for key in ("hdfs.path", "hdfs.filePrefix"):
            for esc in unknown_escapes(settings[key] or ""):
                problems.append(
                    Problem(
                        key, f"'{esc}' is not an escape Flume knows; it becomes ''", "remove it or use %% for a percent sign", "warning"
                    )
                )
        times = any(k == "time" for k, _ in parse(path) + parse(settings["hdfs.filePrefix"] or ""))
        if times and not settings["hdfs.useLocalTimeStamp"]:
            problems.append(
                Problem(
                    "hdfs.path",
                    "time escapes need a 'timestamp' header on every event; events without one are rejected",
                    "add a timestamp interceptor to the source, or set hdfs.useLocalTimeStamp = true",
                    "warning",
                )
            )
        if settings["hdfs.rollSize"] == 1024 and settings["hdfs.rollCount"] == 10 and settings["hdfs.rollInterval"] == 30:
            problems.append(
                Problem(
                    "hdfs.rollCount",
                    "Flume's default rolls (10 events, 1024 bytes, 30 s) make many tiny files in HDFS",
                    "set hdfs.rollCount = 0, hdfs.rollSize = 134217728 and a larger hdfs.rollInterval",
                    "warning",
                )
            )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        from flafka.metrics.counters import SinkCounter

        self.counter = SinkCounter(name, self.type_name)  # replaced by the agent's
        cfg = _Config(settings, name)
        if cfg.output.serializer is not None:  # serializers read hdfs:// URLs (schemas) through this sink
            cfg.output = dataclasses.replace(cfg.output, serializer=dataclasses.replace(cfg.output.serializer, open_url=self.read_url))
        self.cfg = cfg
        self.target = cfg.target
        self.auth = cfg.auth
        self.retry_cap = float(max(1, settings["hdfs.retryInterval"]))
        self.close_tries: int = settings["hdfs.closeTries"]
        vars(self)["max_pending_batches"] = settings["hdfs.maxPendingBatches"]  # the class attribute stays the default
        self.wall_clock: Callable[[], float] = time.time
        self.clock: Callable[[], float] = time.monotonic
        self.host: Host | None = None
        self._paths: PathTemplate | None = None
        self._writers: collections.OrderedDict[tuple[str, str], _OpenFile] = collections.OrderedDict()
        self._last_counter = 0
        self._lock = threading.Lock()
        self.staging: StagingDir | None = None
        self.uploader = Uploader(self, settings["hdfs.threadsPoolSize"])
        self.syncer = Syncer(name)
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------

    def staging_path(self) -> Path:
        given = self.settings["hdfs.stagingDir"]
        if given:
            return Path(given).expanduser()
        agent = getattr(self, "agent_name", "") or "agent"
        return default_staging_root() / agent / self.name

    def new_client(self) -> Any:
        return webhdfs.build_client(self.target.url, self.auth)

    def read_url(self, url: str) -> bytes:
        """The file at an ``hdfs://``/``webhdfs://`` URL, read through this sink's WebHDFS
        client (its NameNode, its user); lent to serializers (``AvroEventSerializer``'s
        ``schemaURL``), as Flume reads them through the default file system."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in _HDFS_SCHEMES:
            raise PermanentError(f"sink '{self.name}': cannot read '{url}' (hdfs://, webhdfs://, file:, http: and https: only)")
        with self.new_client().read(parts.path) as reader:
            return bytes(reader.read())

    def start(self) -> None:
        """Lock the staging directory, queue what an earlier run left there, start the
        upload threads. HDFS being down is not an error here (uploads retry)."""
        if self._started:
            return
        cfg = self.cfg
        paths = PathTemplate(
            [self.target.path, self.settings["hdfs.filePrefix"]],
            cfg.tz,
            self.settings["hdfs.roundValue"] if self.settings["hdfs.round"] else 0,
            self.settings["hdfs.roundUnit"],
            self.settings["hdfs.useLocalTimeStamp"],
            keys=("hdfs.path", "hdfs.filePrefix"),
            names=(False, True),
        )
        if paths.needs_host:
            paths.host = self.host or Host.lookup()
        self._paths = paths
        if self.target.assumed:
            log.warning("sink '%s': %s", self.name, self.target.how)
        else:
            log.info("sink '%s': WebHDFS at %s (%s)", self.name, self.target.url, self.target.how)
        staging = StagingDir(self.staging_path())
        try:
            staging.open()
        except StagingLocked:
            raise ConfigError(
                f"sink '{self.name}': the staging directory {staging.path} is in use by another process; give each "
                f"agent and sink its own hdfs.stagingDir"
            )
        except OSError as exc:
            raise ConfigError(
                f"sink '{self.name}': cannot use the staging directory {staging.path} ({exc.strerror or exc}); set "
                f"hdfs.stagingDir to a writable directory on a durable local disk"
            )
        self.staging = staging
        found, notes = staging.recover()
        for note in notes:
            log.warning("sink '%s': %s", self.name, note)
        for scanned in found:
            self._resubmit(scanned)
        if found:
            log.info("sink '%s': %d staged files from an earlier run are being uploaded", self.name, len(found))
        self.syncer.start()
        self.uploader.start()
        self._started = True

    def _resubmit(self, scanned: Scanned) -> None:
        meta = scanned.meta or {}
        counter = int(meta.get("counter", 0))
        self._last_counter = max(self._last_counter, counter)
        self.uploader.submit(scanned.path, scanned.valid_length, scanned.payload_size, meta)

    def stop(self) -> None:
        """Roll every open file and give the uploads a few seconds; what is not uploaded
        by then stays staged and is uploaded by the next start. Idempotent, bounded."""
        if not self._started:
            return
        if not self._lock.acquire(timeout=5.0):
            log.error("sink '%s': a write is still blocked; open files are uploaded at the next start", self.name)
        else:
            try:
                for f in list(self._writers.values()):
                    self._seal(f)
                self._writers.clear()
            finally:
                self._lock.release()
        timeout = min(5.0, self.cfg.timeout)
        if not self.syncer.stop(timeout):
            log.error(
                "sink '%s': the staging disk did not finish a sync within %.0f s; unsynced batches were not committed, "
                "and the staged files are uploaded when the sink starts again",
                self.name,
                timeout,
            )
        self.uploader.retry_now()
        if not self.uploader.drain(timeout):
            log.warning(
                "sink '%s': %d files are not uploaded yet (%s); they stay in %s and are uploaded when the sink starts again",
                self.name,
                self.uploader.pending(),
                self.uploader.last_error or "HDFS is slow",
                self.staging.path if self.staging else "?",
            )
        self.uploader.stop(2.0)
        if self.staging is not None:
            self.staging.close()
        self._started = False

    # -- data path -----------------------------------------------------------------------

    def write(self, events: AnyBatch) -> BatchOutcome | None:
        """Append the batch to the staging files of its buckets and return once they are
        synced (what ``send(events).wait()`` does): used for retries and in sink groups."""
        with self._lock:
            if not self._started:
                self.start()
            pending = self._send(events)
        return pending.wait()

    def send(self, events: AnyBatch) -> PendingWrite:
        """Append the batch to the staging files of its buckets (no sync here) and roll files
        that reached a limit; the returned ``wait()`` blocks until the syncer thread synced
        every file the batch touched past the batch's end. Raises RetriableError when the
        staging disk fails or the staging directory is over ``hdfs.stagingMaxBytes``;
        ``wait()`` returns failed indices (not retriable) for events whose path needs a
        timestamp they lack or whose header values :data:`flafka.header_paths.HDFS_RULE`
        refuses, and fails the events whose staging file could not be synced."""
        with self._lock:
            if not self._started:
                self.start()
            return self._send(events)

    def _send(self, events: AnyBatch) -> _PendingSync:
        self._check_staging_limit()
        now_ms = int(self.wall_clock() * 1000)
        groups, failed, reason = self._group(events, now_ms)
        before = collections.OrderedDict(self._writers)
        journal: dict[int, tuple[_OpenFile, tuple[int, int, Any, int, int] | None]] = {}
        to_seal: list[_OpenFile] = []
        targets: list[_Target] = []
        now = self.clock()
        try:
            for key, (evs, idx) in groups.items():
                self._append(key, evs, idx, now, journal, to_seal, targets)
        except (PermanentError, RetriableError):  # the serializer refused the batch: none of it is kept
            self._undo(journal, before)
            raise
        except OSError as exc:
            self._undo(journal, before)
            raise RetriableError(
                f"sink '{self.name}': cannot write to the staging directory {self.staging.path if self.staging else '?'} "
                f"({exc.strerror or exc}); the batch stays in the channel — free space or fix that disk, or set hdfs.stagingDir"
            )
        self.syncer.publish([f.staging for f, _ in journal.values()])
        for f in to_seal:
            self._seal(f)
        while len(self._writers) > self.cfg.max_open_files:
            _, oldest = self._writers.popitem(last=False)
            self._seal(oldest)
        return _PendingSync(self, targets, len(events), failed, reason)

    def _group(self, events: AnyBatch, now_ms: int) -> tuple[dict[tuple[str, str], _Group], list[int], str]:
        """Events by bucket, each with its indices in the batch (None: all of them, in order),
        the indices refused (no usable timestamp, unsafe header values) and why.

        Reads header maps, never ``Event`` objects: a column-wise batch stays one. The path
        is resolved once for the whole batch when it needs no header (``per_batch``) or
        when every event carries the same map; otherwise once per event (from a cache)."""
        paths = self._paths
        assert paths is not None
        n = len(events)
        if not n:
            return {}, [], ""
        if paths.per_batch:  # no header escapes, no event time: one bucket for the whole batch
            return {paths.resolve(None, now_ms): (events, None)}, [], ""  # type: ignore[dict-item]
        maps = header_maps_of(events)
        first = maps[0]
        if first is maps[-1] and maps.count(first) == n:  # one map for every event: resolve it once
            try:
                return {paths.resolve(first, now_ms): (events, None)}, [], ""  # type: ignore[dict-item]
            except (MissingTimestamp, UnsafeHeaderPath):
                pass  # every event is refused: the loop below says why, as for any batch
        indices: dict[tuple[str, ...], list[int]] = {}
        failed: list[int] = []
        unsafe: list[str] = []
        no_time = 0
        problem = ""
        resolve = paths.resolve
        for i, headers in enumerate(maps):
            try:
                key = resolve(headers, now_ms)
            except MissingTimestamp as exc:
                failed.append(i)
                problem = str(exc)
                no_time += 1
                continue
            except UnsafeHeaderPath as exc:
                failed.append(i)
                if len(unsafe) < 3 and str(exc) not in unsafe:
                    unsafe.append(str(exc))
                continue
            group = indices.get(key)
            if group is None:
                indices[key] = [i]
            else:
                group.append(i)
        if len(indices) == 1 and not failed:
            groups: dict[tuple[str, str], _Group] = {next(iter(indices)): (events, None)}  # type: ignore[dict-item]
        else:
            groups = {key: (subset(events, idx), idx) for key, idx in indices.items()}  # type: ignore[misc]
        reasons = []
        if unsafe:
            reasons.append(
                f"sink '{self.name}': {len(failed) - no_time} of {n} events whose headers would lead the write out of hdfs.path "
                f"'{self.settings['hdfs.path']}' are refused ({'; '.join(unsafe)}); nothing is written outside that "
                f"directory — fix the producer of the header, or drop or rewrite it with an interceptor (docs/hdfs.md, "
                f"'Header values in paths')"
            )
        if problem:
            reasons.append(
                f"sink '{self.name}': hdfs.path '{self.settings['hdfs.path']}' uses time escapes, but {no_time} of "
                f"{n} events have no usable timestamp ({problem}); add a timestamp interceptor to the source "
                f"(interceptors = ts, interceptors.ts.type = timestamp) or set hdfs.useLocalTimeStamp = true"
            )
        return groups, failed, " — and ".join(reasons)

    def _append(
        self,
        key: tuple[str, str],
        evs: AnyBatch,
        idx: list[int] | None,
        now: float,
        journal: dict[int, Any],
        to_seal: list[_OpenFile],
        targets: list[_Target],
    ) -> None:
        """Append ``evs`` (indices ``idx`` in the batch; None: 0..n-1) to the bucket's open
        file, opening and rolling files as the limits say; record each file's end offset."""
        cfg = self.cfg
        i = 0
        n = len(evs)
        sizes: list[int] | None = None
        while i < n:
            f = self._writers.get(key)
            if f is not None and (f.staging.error is not None or (cfg.roll_interval and now >= f.opened + cfg.roll_interval)):
                del self._writers[key]  # a file whose sync failed takes no more batches
                to_seal.append(f)
                f = None
            if f is None:
                f = self._open(key, now)
                self._writers[key] = f
                journal[id(f)] = (f, None)
            else:
                self._writers.move_to_end(key)
                if id(f) not in journal:
                    journal[id(f)] = (f, (f.staging.size, f.staging.payload_size, f.encoder.mark(), f.events, f.raw_bytes))
            take = n - i
            if cfg.roll_count:
                take = min(take, cfg.roll_count - f.events)
            raw = 0  # body bytes, counted only for hdfs.rollSize
            if cfg.roll_size:
                if sizes is None:  # running totals of body bytes: one C-level pass per group
                    sizes = list(itertools.accumulate(map(len, bodies_of(evs))))
                base = sizes[i - 1] if i else 0
                # the first event at which the file reaches rollSize ends this chunk
                j = bisect.bisect_left(sizes, base + cfg.roll_size - f.raw_bytes, i, i + take)
                take = min(take, j - i + 1)
                raw = sizes[i + take - 1] - base
            chunk = evs[i : i + take] if (i or take != n) else evs
            staging = f.staging
            staging.append(f.encoder.encode(chunk))
            targets.append((staging, staging.size, i, i + take, idx))
            f.events += take
            f.raw_bytes += raw
            f.last_write = now
            i += take
            if (cfg.roll_count and f.events >= cfg.roll_count) or (cfg.roll_size and f.raw_bytes >= cfg.roll_size):
                del self._writers[key]
                to_seal.append(f)

    def _undo(self, journal: dict[int, Any], before: collections.OrderedDict[tuple[str, str], _OpenFile]) -> None:
        """A write failed: cut every touched staging file back to where the batch began
        and delete the files this batch created."""
        for f, entry in journal.values():
            if entry is None:
                f.staging.close()
                try:
                    f.staging.path.unlink()
                except OSError:
                    pass
                continue
            size, payload, mark, count, raw = entry
            f.staging.truncate(size, payload)
            f.encoder.reset(mark)
            f.events, f.raw_bytes = count, raw
        self._writers = before

    def _open(self, key: tuple[str, str], now: float) -> _OpenFile:
        cfg = self.cfg
        directory, prefix = key
        counter = max(int(self.wall_clock() * 1000), self._last_counter + 1)
        self._last_counter = counter
        suffix = cfg.suffix
        final = f"{prefix}.{counter}{suffix}"
        meta = {
            "directory": directory,
            "prefix": prefix,
            "counter": counter,
            "suffix": suffix,
            "final": final,
            "inUsePrefix": cfg.inuse_prefix,
            "inUseSuffix": cfg.inuse_suffix,
            "inuse": f"{cfg.inuse_prefix}{final}{cfg.inuse_suffix}",
            "sink": self.name,
        }
        assert self.staging is not None
        self.staging.path.mkdir(parents=True, exist_ok=True)
        staging = StagingFile.create(self.staging.path, f"{counter:015d}", meta)
        self.counter.connection_created_count += 1
        encoder = cfg.output.new_encoder(f"{directory}/{final}", self.wall_clock)
        return _OpenFile(key, staging, encoder, now, now)

    def _seal(self, f: _OpenFile) -> None:
        """Roll ``f``: the serializer's closing bytes are appended, then the syncer syncs
        what it holds, closes it and hands it to the uploads."""
        if f.staging.error is None:
            try:
                tail = f.encoder.finish()
            except Exception as exc:  # a plugin's end(): the file is still uploaded, without them
                log.error("sink '%s': the serializer's closing bytes for %s failed (%s); the file lacks them", self.name, f.key, exc)
                tail = b""
            if tail:
                f.staging.append(tail)
        self.counter.connection_closed_count += 1
        self.syncer.close(f.staging, self._sealed)

    def _sealed(self, staging: StagingFile) -> None:
        """(Syncer thread) ``staging`` is closed; its synced frames are the file's content."""
        self.uploader.submit(staging.path, staging.synced, staging.synced_payload, staging.meta)

    def _check_staging_limit(self) -> None:
        limit = self.cfg.staging_max
        staged = self.uploader.pending_bytes + sum(f.staging.size for f in self._writers.values())
        if staged <= limit:
            return
        if self.uploader.last_error:
            why = f"HDFS is not taking files: {self.uploader.last_error}"
        else:
            why = "uploads do not keep up (or open files are large); lower hdfs.rollSize/hdfs.rollInterval or add upload threads"
        raise RetriableError(
            f"sink '{self.name}': {staged} bytes wait in the staging directory {self.staging.path if self.staging else '?'}, "
            f"over hdfs.stagingMaxBytes = {limit}; {why} — events stay in the channel until uploads catch up "
            f"(raise hdfs.stagingMaxBytes to buffer more locally)"
        )

    def tick(self) -> None:
        """Roll files whose ``hdfs.rollInterval`` passed or that were idle for ``hdfs.idleTimeout``."""
        cfg = self.cfg
        if not self._writers or not (cfg.roll_interval or cfg.idle_timeout):
            return
        if not self._lock.acquire(timeout=0.5):
            return
        try:
            now = self.clock()
            for key, f in list(self._writers.items()):
                if (cfg.roll_interval and now >= f.opened + cfg.roll_interval) or (
                    cfg.idle_timeout and now >= f.last_write + cfg.idle_timeout
                ):
                    del self._writers[key]
                    self._seal(f)
        finally:
            self._lock.release()

    # -- for tests and tools ---------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> bool:
        """Roll every open file and wait until every staged file is synced and uploaded."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for f in list(self._writers.values()):
                self._seal(f)
            self._writers.clear()
        if not self.syncer.drain(timeout):
            return False
        self.uploader.retry_now()
        return self.uploader.drain(max(0.0, deadline - time.monotonic()))


def _serializer_problems(settings: Settings) -> list[Problem]:
    """``serializer`` and its ``serializer.*`` keys, checked by the registry and the
    serializer's schema; a serializer that SequenceFile ignores is a warning."""
    name = settings["serializer"] or "TEXT"
    sub = settings["serializer.*"] or {}
    if settings["hdfs.fileType"] == "SequenceFile":
        if "serializer" in settings.explicit or sub:
            return [
                Problem(
                    "serializer",
                    "hdfs.fileType = SequenceFile does not use a serializer; serializer and serializer.* are ignored",
                    "set hdfs.fileType = DataStream (or CompressedStream) to write the serializer's format",
                    "warning",
                )
            ]
        return []
    problems = resolve_serializer("", "serializer", name, sub)[1]
    schema_url = sub.get("schemaURL", "")
    if urllib.parse.urlsplit(schema_url).scheme.lower() in _HDFS_SCHEMES:  # this sink reads those (read_url)
        problems = [p for p in problems if not (p.key == "serializer.schemaURL" and p.severity == "warning")]
    return problems


_HDFS_SCHEMES = ("hdfs", "webhdfs")


class _Config:
    """Cross-key validation and derived values (pure: no I/O)."""

    def __init__(self, settings: Settings, name: str = "") -> None:
        self.target = webhdfs.target(settings["hdfs.path"] or "", settings["hdfs.webhdfs.url"] or "")
        parse(self.target.path)
        parse(settings["hdfs.filePrefix"] or "", "hdfs.filePrefix")
        HDFS_RULE.check_template(skeleton(self.target.path), "hdfs.path")
        for key in ("hdfs.filePrefix", "hdfs.fileSuffix", "hdfs.inUsePrefix", "hdfs.inUseSuffix"):
            HDFS_RULE.check_template(skeleton(settings[key] or "") if key == "hdfs.filePrefix" else settings[key] or "", key, name=True)
        self.tz = time_zone(settings["hdfs.timeZone"] or "")
        file_type = settings["hdfs.fileType"]
        codec_name = (settings["hdfs.codeC"] or "").strip()
        codec: Codec | None = codec_for(codec_name) if codec_name else None
        if file_type == "DataStream" and codec is not None:
            raise ConfigError(
                f"hdfs.fileType = DataStream does not compress, but hdfs.codeC = {codec_name}; use hdfs.fileType = "
                f"CompressedStream (or SequenceFile) for compressed output, or remove hdfs.codeC"
            )
        if file_type == "CompressedStream" and codec is None:
            raise ConfigError("hdfs.fileType = CompressedStream needs hdfs.codeC (gzip, bzip2, snappy or deflate)")
        serializer = None
        if file_type != "SequenceFile":
            serializer = serializer_or_raise(name, "serializer", settings["serializer"] or "TEXT", settings["serializer.*"] or {})
        self.output = OutputFormat(file_type, codec, serializer, settings["hdfs.writeFormat"] == "Text")
        self.suffix = settings["hdfs.fileSuffix"] or self.output.extension
        self.inuse_prefix = settings["hdfs.inUsePrefix"] or ""
        self.inuse_suffix = "" if settings["hdfs.emptyInUseSuffix"] else (settings["hdfs.inUseSuffix"] or "")
        if not self.inuse_prefix and not self.inuse_suffix:
            raise ConfigError(
                "hdfs.inUsePrefix and hdfs.inUseSuffix are both empty, so a file being uploaded would carry its final "
                "name; set hdfs.inUseSuffix = .tmp (or an hdfs.inUsePrefix such as '_')"
            )
        self.roll_interval = settings["hdfs.rollInterval"]
        self.roll_size = settings["hdfs.rollSize"]
        self.roll_count = settings["hdfs.rollCount"]
        self.idle_timeout = settings["hdfs.idleTimeout"]
        self.max_open_files = settings["hdfs.maxOpenFiles"]
        self.staging_max = settings["hdfs.stagingMaxBytes"]
        self.timeout = settings["hdfs.callTimeout"] / 1000.0
        self.auth = webhdfs.Auth(
            user=settings["hdfs.webhdfs.user"] or "",
            proxy_user=settings["hdfs.proxyUser"] or "",
            token=settings["hdfs.webhdfs.token"] or "",
            kerberos_principal=settings["hdfs.kerberosPrincipal"] or "",
            kerberos_keytab=settings["hdfs.kerberosKeytab"] or "",
            mutual_auth=settings["hdfs.webhdfs.kerberos.mutualAuth"],
            verify=settings["hdfs.webhdfs.ssl.verify"] or "true",
            cert_file=settings["hdfs.webhdfs.ssl.certFile"] or "",
            key_file=settings["hdfs.webhdfs.ssl.keyFile"] or "",
            timeout=self.timeout,
        )


COMPONENTS = [HdfsSink]

"""The Kudu Java client's jars: where they come from and how they reach a machine.

Decision: the jars are **not** shipped in the wheel (the shaded ``kudu-client`` is 8.7 MB and
is Apache-licensed Java, released on its own schedule). They are fetched once over HTTPS
from Maven Central (``FLAFKA_MAVEN_REPO`` selects a mirror) into a cache, each checked
against the **SHA-256 pinned below** (a changed or truncated file is refused), and used
offline from then on. ``flafka-kudu-jars`` (or ``python -m flafka_kudu.jars``) fetches them
ahead of time, e.g. while building an image; ``FLAFKA_KUDU_CLASSPATH`` names a directory
(or ``:``-separated jar files) to use instead, for machines without network access.

Cache: ``$FLAFKA_CACHE_DIR/kudu-client`` or ``~/.cache/flafka/kudu-client``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

KUDU_CLIENT_VERSION = "1.18.1"


@dataclass(frozen=True)
class Jar:
    path: str
    """Path below the repository root (``group/as/dirs/artifact/version/file.jar``)."""
    sha256: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


#: kudu-client is shaded: its only runtime dependencies are async and slf4j-api
#: (jsr305 and audience-annotations are compile-time annotations). slf4j-nop silences
#: SLF4J's "no binding" warning; the client's own errors reach flafka as exceptions.
JARS = (
    Jar(
        f"org/apache/kudu/kudu-client/{KUDU_CLIENT_VERSION}/kudu-client-{KUDU_CLIENT_VERSION}.jar",
        "b965a5b14b761683ca9c5312b8a40e48e50dec42c837d828b78ae0a58b2a518e",
    ),
    Jar("com/stumbleupon/async/1.4.1/async-1.4.1.jar", "118bce251e41b829459eb5a14124bd9edbc42ff554514c048395cc3c6830c73a"),
    Jar("org/slf4j/slf4j-api/1.7.36/slf4j-api-1.7.36.jar", "d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0"),
    Jar("org/slf4j/slf4j-nop/1.7.36/slf4j-nop-1.7.36.jar", "c214958b07816cb4412b30c7bdbd4308ffdc6ba2a83767b8f3a9229cbd9274d6"),
)


class JarError(Exception):
    """The jars cannot be had; the message names the cause and the fix."""


def repository() -> str:
    return os.environ.get("FLAFKA_MAVEN_REPO", "https://repo1.maven.org/maven2").rstrip("/")


def cache_dir() -> Path:
    base = os.environ.get("FLAFKA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "flafka")
    return Path(base) / "kudu-client"


def configured_classpath() -> list[str] | None:
    """The jars named by ``FLAFKA_KUDU_CLASSPATH`` (a directory or ``:``-separated jars), or None."""
    value = os.environ.get("FLAFKA_KUDU_CLASSPATH", "").strip()
    if not value:
        return None
    out: list[str] = []
    for part in value.split(os.pathsep):
        p = Path(part)
        if p.is_dir():
            out += sorted(str(j) for j in p.glob("*.jar"))
        elif p.is_file():
            out.append(str(p))
    return out


def cached_classpath() -> list[str] | None:
    """The cached jars when every one is present (no I/O beyond ``stat``), else None."""
    d = cache_dir()
    paths = [d / j.name for j in JARS]
    return [str(p) for p in paths] if all(p.is_file() for p in paths) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _download(jar: Jar, dest: Path, timeout: float) -> None:
    url = f"{repository()}/{jar.path}"
    part = dest.with_suffix(".part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
    except (OSError, urllib.error.URLError) as exc:
        part.unlink(missing_ok=True)
        raise JarError(
            f"the Kudu Java client jar {jar.name} cannot be downloaded from {url}: {exc}. Fix: allow HTTPS to Maven Central "
            f"(or set FLAFKA_MAVEN_REPO to a mirror), run `flafka-kudu-jars` once where the network is reachable, or set "
            f"FLAFKA_KUDU_CLASSPATH to a directory holding {', '.join(j.name for j in JARS)}"
        ) from None
    if h.hexdigest() != jar.sha256:
        part.unlink(missing_ok=True)
        raise JarError(f"{url}: SHA-256 {h.hexdigest()} is not the pinned {jar.sha256}; the download was refused (check the mirror)")
    part.rename(dest)


def classpath(timeout: float = 120.0) -> list[str]:
    """Every jar the Java backend needs: ``FLAFKA_KUDU_CLASSPATH`` when set, else the cache,
    downloading what is missing (once; concurrent processes wait on a file lock)."""
    configured = configured_classpath()
    if configured is not None:
        if not any("kudu-client" in Path(p).name for p in configured):
            raise JarError(
                f"FLAFKA_KUDU_CLASSPATH={os.environ.get('FLAFKA_KUDU_CLASSPATH')} holds no kudu-client jar. "
                f"Fix: put {', '.join(j.name for j in JARS)} there, or unset it to use the download cache"
            )
        return configured
    cached = cached_classpath()
    if cached is not None:
        return cached
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for jar in JARS:
            dest = d / jar.name
            if not dest.is_file():
                _download(jar, dest, timeout)
    return [str(d / j.name) for j in JARS]


def verify() -> list[str]:
    """Re-check the SHA-256 of every cached jar; the names of those that differ."""
    return [j.name for j in JARS if (p := cache_dir() / j.name).is_file() and _sha256(p) != j.sha256]


def main(argv: list[str] | None = None) -> int:
    """``flafka-kudu-jars``: fetch the jars into the cache (or check them) and print the classpath."""
    try:
        paths = classpath()
    except JarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bad = verify()
    if bad:
        print(f"error: cached jars differ from their pinned SHA-256: {', '.join(bad)}; delete {cache_dir()} and retry", file=sys.stderr)
        return 1
    print(os.pathsep.join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""WebHDFS access: where to connect, how to authenticate, the write-once upload protocol
and error messages a user can act on.

``hdfs.path`` may be a Flume-style URI (``hdfs://namenode:8020/flume/%Y`` or
``hdfs://mycluster/flume`` for an HA name service), a bare path (the default file
system), a ``webhdfs://host:port/…`` (``http``) or ``swebhdfs://host:port/…`` (``https``)
URI. The WebHDFS address is ``hdfs.webhdfs.url`` when set (an ``hdfs://`` URI there is
resolved too), else found in Hadoop's client configuration as Flume finds the NameNode:
see :mod:`flafka_hdfs.hadoop_conf`. Several addresses (an HA name service) are joined
with ``;``: the ``hdfs`` client tries them in turn and stays with the one that answers,
moving on when a NameNode answers ``StandbyException`` or refuses the connection.

Upload protocol (no APPEND, ever; every step is safe to redo):

1. if the final name exists with the staged size, the file is done (a replay);
2. CREATE ``<inUsePrefix><name><inUseSuffix>`` with ``overwrite=true`` from the staged bytes;
3. GETFILESTATUS of the in-use name must show the staged size;
4. RENAME it to the final name; a failed rename counts as done only when the final name
   then shows the staged size.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from flafka.errors import ConfigError
from flafka_hdfs.hadoop_conf import resolve

_URI = re.compile(r"^([A-Za-z][\w+.-]*)://([^/]*)(/.*)?$")


@dataclass(frozen=True)
class Target:
    """The WebHDFS base URL(s) (``;``-separated for HA) and the path template on HDFS;
    ``how`` says where the URL came from, ``assumed`` that it is a guess (a default port)."""

    url: str
    path: str
    how: str = field(default="", compare=False)
    assumed: bool = field(default=False, compare=False)


def target(hdfs_path: str, webhdfs_url: str) -> Target:
    """Split ``hdfs.path`` into the WebHDFS address and the path template (no I/O but
    reading Hadoop's configuration files). Raises ConfigError naming the key and file."""
    text = hdfs_path.strip()
    m = _URI.match(text)
    what = f"hdfs.path = '{hdfs_path}'"
    if m:
        scheme, authority, path = m.group(1).lower(), m.group(2), m.group(3) or "/"
        if scheme not in ("hdfs", "viewfs", "webhdfs", "swebhdfs"):
            raise ConfigError(f"{what}: the scheme '{scheme}' is not HDFS; use hdfs://, webhdfs:// or swebhdfs://")
    else:
        scheme, authority, path = "", "", text
        if not path.startswith("/"):
            raise ConfigError(f"{what} must be absolute (start with /) or a hdfs:// URI")
    url = webhdfs_url.strip().rstrip("/")
    if url:
        u = _URI.match(url)
        if u and u.group(1).lower() == "hdfs":
            found = resolve(u.group(2), f"hdfs.webhdfs.url = '{webhdfs_url}'")
            return Target(found.url, path, found.how, found.assumed)
        return Target(url, path, "hdfs.webhdfs.url")
    host = authority.rsplit("@", 1)[-1]
    if scheme in ("webhdfs", "swebhdfs"):
        if not host:
            raise ConfigError(f"{what} names no host; write {scheme}://<namenode>:<http port>/<path>")
        return Target(f"{'https' if scheme == 'swebhdfs' else 'http'}://{host}", path, f"the {scheme}:// URI")
    found = resolve(host, what)
    return Target(found.url, path, found.how, found.assumed)


@dataclass(frozen=True)
class Auth:
    """How to talk to WebHDFS (from the sink's settings; secrets never logged)."""

    user: str = ""
    proxy_user: str = ""
    token: str = ""
    kerberos_principal: str = ""
    kerberos_keytab: str = ""
    mutual_auth: str = "OPTIONAL"
    verify: str = "true"
    cert_file: str = ""
    key_file: str = ""
    timeout: float = 30.0


def build_client(url: str, auth: Auth) -> Any:
    """An ``hdfs`` client: KerberosClient when a principal is set, TokenClient with a
    delegation token, InsecureClient (``user.name``) otherwise."""
    import hdfs
    import requests  # here, not at module level: every agent start registers this plugin

    session = requests.Session()
    verify = auth.verify.strip()
    if verify.lower() in ("false", "no", "off", "0"):
        session.verify = False
    elif verify and verify.lower() not in ("true", "yes", "on", "1"):
        session.verify = verify  # a CA bundle
    if auth.cert_file:
        session.cert = (auth.cert_file, auth.key_file) if auth.key_file else auth.cert_file
    proxy = auth.proxy_user or None
    if auth.kerberos_principal or auth.kerberos_keytab:
        try:
            from hdfs.ext.kerberos import KerberosClient
        except ImportError:
            raise ConfigError("Kerberos needs requests-kerberos: pip install 'flafka-hdfs[kerberos]'")
        if auth.kerberos_keytab:
            os.environ.setdefault("KRB5_CLIENT_KTNAME", auth.kerberos_keytab)
        extra = {"principal": auth.kerberos_principal} if auth.kerberos_principal else {}
        kerberos = KerberosClient(url, mutual_auth=auth.mutual_auth, proxy=proxy, timeout=auth.timeout, session=session, **extra)
        return _literal_paths(kerberos)
    if auth.token:
        return _literal_paths(hdfs.TokenClient(url, auth.token, proxy=proxy, timeout=auth.timeout, session=session))
    user = auth.user or os.environ.get("HADOOP_USER_NAME") or _login()
    return _literal_paths(hdfs.InsecureClient(url, user=user, proxy=proxy, timeout=auth.timeout, session=session))


def _literal_paths(client: Any) -> Any:
    """Make ``client`` send paths as given: the ``hdfs`` library's ``resolve`` would
    collapse ``..`` and expand ``#LATEST`` markers to the newest entry of a directory.
    The sink's paths are absolute and already normalised (:mod:`flafka.header_paths`);
    empty and ``.`` segments (in files staged by an older version) are dropped, a ``..``
    is sent as is (the NameNode refuses it: nothing is written outside the directory)."""

    def literal(hdfs_path: str) -> str:
        if not hdfs_path.startswith("/"):
            raise ValueError(f"WebHDFS path {hdfs_path!r} is not absolute")
        if "//" in hdfs_path or "/./" in hdfs_path or hdfs_path.endswith(("/", "/.")):
            return "/" + "/".join(s for s in hdfs_path.split("/") if s and s != ".")
        return hdfs_path

    client.resolve = literal
    return client


def _login() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "flafka"


class UploadError(Exception):
    """An upload step failed; ``str`` is a sentence naming the path and the fix."""


def describe(exc: BaseException, path: str, url: str, user: str = "") -> str:
    """A sentence naming what failed on ``path`` and how to fix it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kind = getattr(exc, "exception", None) or ""
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return (
            f"cannot reach WebHDFS at {url} to write {path} ({type(exc).__name__}); start HDFS or fix hdfs.webhdfs.url / "
            f"hdfs.path — the staged files are kept and uploaded once it answers"
        )
    low = text.lower()
    if kind == "StandbyException":
        return (
            f"no active NameNode among {url} for {path}: each answered as a standby (or was unreachable); check "
            f"`hdfs haadmin -getAllServiceState` and dfs.ha.namenodes in hdfs-site.xml — the staged files are kept and "
            f"uploaded once a NameNode is active"
        )
    if kind == "SafeModeException" or "safe mode" in low:
        return (
            f"the NameNode at {url} is in safe mode and refuses {path}; it leaves safe mode by itself after a start — "
            f"otherwise check its disk space and run `hdfs dfsadmin -safemode leave`"
        )
    if kind == "AccessControlException" or "permission denied" in low:
        who = f" as user '{user}'" if user else ""
        return (
            f"permission denied writing {path}{who}: grant access to the directory (hdfs dfs -chown / -chmod), or change "
            f"hdfs.path, hdfs.webhdfs.user or hdfs.proxyUser ({text})"
        )
    if (
        "could only be written to 0" in low
        or "could only be replicated to 0" in low
        or "no space left" in low
        or "diskoutofspace" in low
        or kind in ("DSQuotaExceededException", "NSQuotaExceededException", "QuotaExceededException")
    ):
        return (
            f"HDFS has no room for {path}: the DataNodes' disks are full or a quota is exceeded; free space or add "
            f"DataNodes (hdfs dfsadmin -report), or raise the quota ({text})"
        )
    if "authentication failure" in low or "401" in low:
        return (
            f"WebHDFS at {url} refused the credentials for {path}: run kinit, or check hdfs.kerberosPrincipal / "
            f"hdfs.kerberosKeytab or hdfs.webhdfs.token"
        )
    return f"writing {path} through WebHDFS at {url} failed: {text}"


def upload(client: Any, payload: Any, size: int, directory: str, inuse: str, final: str) -> str:
    """Upload one staged file (``payload``: a callable returning an iterator of bytes).
    Returns the final path written. Raises HdfsError / requests errors / UploadError."""
    final_path = f"{directory.rstrip('/')}/{final}"
    inuse_path = f"{directory.rstrip('/')}/{inuse}"
    status = client.status(final_path, strict=False)
    if status is not None:
        if status.get("type") == "FILE" and int(status.get("length", -1)) == size:
            return final_path  # done before (replay after a crash)
        raise FileExistsError(final_path)
    client.write(inuse_path, data=payload(), overwrite=True)
    status = client.status(inuse_path, strict=False)
    if status is None or int(status.get("length", -1)) != size:
        got = "missing" if status is None else f"{status.get('length')} bytes"
        raise UploadError(f"{inuse_path} is {got} after the upload, expected {size} bytes; the upload is redone")
    try:
        client.rename(inuse_path, final_path)
    except Exception:
        status = client.status(final_path, strict=False)
        if status is not None and int(status.get("length", -1)) == size:
            return final_path
        raise
    return final_path

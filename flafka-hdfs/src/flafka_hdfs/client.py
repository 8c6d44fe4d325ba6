"""WebHDFS access: where to connect, how to authenticate, the write-once upload protocol
and error messages a user can act on.

``hdfs.path`` may be a Flume-style URI (``hdfs://namenode:8020/flume/%Y``: the WebHDFS
address is ``hdfs.webhdfs.url``, else ``http://namenode:9870``), a ``webhdfs://host:port/…``
(``http``) or ``swebhdfs://host:port/…`` (``https``) URI, or a bare path (then the
address is ``hdfs.webhdfs.url``, else the default file system of Hadoop's configuration
files, as in Flume: see :mod:`flafka_hdfs.hadoop_conf`).

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
from dataclasses import dataclass
from typing import Any

from flafka.errors import ConfigError
from flafka_hdfs.hadoop_conf import conf_dirs, default_webhdfs_url

DEFAULT_WEBHDFS_PORT = 9870
_URI = re.compile(r"^([A-Za-z][\w+.-]*)://([^/]*)(/.*)?$")


@dataclass(frozen=True)
class Target:
    """The WebHDFS base URL(s) (``;``-separated for HA) and the path template on HDFS."""

    url: str
    path: str


def target(hdfs_path: str, webhdfs_url: str) -> Target:
    """Split ``hdfs.path`` into the WebHDFS address and the path template."""
    m = _URI.match(hdfs_path.strip())
    url = webhdfs_url.strip().rstrip("/")
    if not url and (not m or (m.group(1).lower() in ("hdfs", "viewfs") and not m.group(2))):
        found = default_webhdfs_url()  # Flume resolves these through fs.defaultFS
        if found:
            url = found[0]
    if not m:
        if not url:
            raise ConfigError(
                f"hdfs.path = '{hdfs_path}' names no NameNode and no fs.defaultFS was found in Hadoop's configuration "
                f"({', '.join(str(d) for d in conf_dirs())}); write it as hdfs://<namenode>/<path>, set "
                f"hdfs.webhdfs.url = http://<namenode>:9870, or point HADOOP_CONF_DIR at your core-site.xml"
            )
        path = hdfs_path.strip()
        if not path.startswith("/"):
            raise ConfigError(f"hdfs.path = '{hdfs_path}' must be absolute (start with /) or a hdfs:// URI")
        return Target(url, path)
    scheme, authority, path = m.group(1).lower(), m.group(2), m.group(3) or "/"
    if url:
        return Target(url, path)
    host = authority.rsplit("@", 1)[-1]
    if scheme in ("webhdfs", "swebhdfs"):
        if not host:
            raise ConfigError(f"hdfs.path = '{hdfs_path}' names no host; write {scheme}://<namenode>:<http port>/<path>")
        return Target(f"{'https' if scheme == 'swebhdfs' else 'http'}://{host}", path)
    if scheme in ("hdfs", "viewfs"):
        if not host:
            raise ConfigError(
                f"hdfs.path = '{hdfs_path}' uses the default file system, but no fs.defaultFS was found in Hadoop's "
                f"configuration ({', '.join(str(d) for d in conf_dirs())}); set hdfs.webhdfs.url = http://<namenode>:9870 "
                f"or point HADOOP_CONF_DIR at your core-site.xml"
            )
        name = host.split(":", 1)[0]
        return Target(f"http://{name}:{DEFAULT_WEBHDFS_PORT}", path)
    raise ConfigError(f"hdfs.path = '{hdfs_path}': the scheme '{scheme}' is not HDFS; use hdfs://, webhdfs:// or swebhdfs://")


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
        return KerberosClient(url, mutual_auth=auth.mutual_auth, proxy=proxy, timeout=auth.timeout, session=session, **extra)
    if auth.token:
        return hdfs.TokenClient(url, auth.token, proxy=proxy, timeout=auth.timeout, session=session)
    user = auth.user or os.environ.get("HADOOP_USER_NAME") or _login()
    return hdfs.InsecureClient(url, user=user, proxy=proxy, timeout=auth.timeout, session=session)


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

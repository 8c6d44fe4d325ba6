"""Where the sink writes, against a real NameNode + DataNode (the test kit's ``hdfs_service``):

* header values never lead a write out of ``hdfs.path`` (issue 9, item 3);
* ``hdfs://<rpc address>/…`` resolves through the cluster's own ``core-site.xml`` /
  ``hdfs-site.xml`` (``HADOOP_CONF_DIR``), and an HA name service fails over between its
  NameNodes — a standby one is an in-process server answering as a standby NameNode does
  (HTTP 403, ``StandbyException``), next to the real one (issue 9, item 4).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flafka.errors import PermanentError
from flafka.event import Event
from flafka.testing import make
from flafka_hdfs.sink import HdfsSink

pytestmark = pytest.mark.integration

USER = "flafka"


def client(url: str) -> Any:
    import hdfs

    return hdfs.InsecureClient(url, user=USER)


def tree(url: str, directory: str) -> dict[str, bytes]:
    """Every file under ``directory`` (recursively) with its content."""
    c = client(url)
    out = {}
    for root, _, files in c.walk(directory):
        for f in files:
            with c.read(f"{root}/{f}") as fh:
                out[f"{root}/{f}"] = bytes(fh.read())
    return out


@pytest.fixture
def webhdfs(hdfs_service: Any) -> str:
    return str(hdfs_service.address)


@pytest.fixture
def base_dir() -> str:
    return f"/it-paths/{uuid.uuid4().hex[:10]}"


def sink_for(tmp_path: Path, **raw: Any) -> HdfsSink:
    keys = {
        "hdfs.webhdfs.user": USER,
        "hdfs.fileType": "DataStream",
        "hdfs.stagingDir": str(tmp_path / "staging"),
        "hdfs.rollInterval": 0,
        "hdfs.rollSize": 0,
        "hdfs.rollCount": 0,
        "hdfs.retryInterval": 1,
        **raw,
    }
    return make(HdfsSink, "k1", **keys)


def site(props: dict[str, str]) -> str:
    body = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def cluster_conf_dir(hdfs_service: Any, tmp_path: Path) -> Path:
    """The directory holding the cluster's core-site.xml and hdfs-site.xml: the kit's own
    (``endpoints['conf']``); for an HDFS the kit did not configure (FLAFKA_TEST_HDFS,
    Docker), a client configuration naming its RPC and HTTP addresses."""
    conf = hdfs_service.endpoints.get("conf")
    if conf and (Path(conf) / "hdfs-site.xml").is_file():
        return Path(conf)
    rpc = urllib.parse.urlsplit(hdfs_service.endpoints["rpc"]).netloc
    http = urllib.parse.urlsplit(str(hdfs_service.address)).netloc
    d = tmp_path / "hadoop-conf"
    d.mkdir()
    (d / "core-site.xml").write_text(site({"fs.defaultFS": f"hdfs://{rpc}"}))
    (d / "hdfs-site.xml").write_text(site({"dfs.namenode.rpc-address": rpc, "dfs.namenode.http-address": http}))
    return d


# -- item 3: nothing outside hdfs.path ----------------------------------------------------------


def test_no_header_value_writes_outside_hdfs_path(webhdfs: str, base_dir: str, tmp_path: Path) -> None:
    c = client(webhdfs)
    c.write(f"{base_dir}/victim/secret.txt", data=b"keep me", overwrite=True)  # what #LATEST would find
    root_before = set(c.list("/"))
    inside = f"{base_dir}/in"
    sink = sink_for(tmp_path, **{"hdfs.path": f"{inside}/%{{dir}}", "hdfs.webhdfs.url": webhdfs, "hdfs.filePrefix": "F%{app}"})
    sink.start()
    refused_values = ["../victim", "a/../../victim", "../../../escaped", "#LATEST", "x/#LATEST{2}", "a\0b", "a\nb", "c:d"]
    kept = {
        "sub/dir": f"{inside}/sub/dir",
        "/abs/olute": f"{inside}/abs/olute",
        "./dot//empty/.": f"{inside}/dot/empty",
        "": inside,
        "%2e%2e": f"{inside}/%2e%2e",
        "%2F..%2F": f"{inside}/%2F..%2F",
        "..a": f"{inside}/..a",
        "日本/ü": f"{inside}/日本/ü",
        "x#1?op=DELETE": f"{inside}/x#1?op=DELETE",
    }
    batch = [Event(f"refused {i}".encode(), {"dir": v, "app": "-a"}) for i, v in enumerate(refused_values)]
    batch += [Event(f"kept {v}".encode(), {"dir": v, "app": "-a"}) for v in kept]
    batch.append(Event(b"bad prefix", {"dir": "ok", "app": "/../../../victim/x"}))
    outcome = sink.write(batch)
    assert outcome is not None and not outcome.retriable and isinstance(outcome.error, PermanentError)
    assert sorted(outcome.failed) == [*range(len(refused_values)), len(batch) - 1]
    assert "header 'dir' = '../victim' has a '..' segment" in str(outcome.error)
    assert sink.flush(60), sink.uploader.last_error
    sink.stop()

    files = tree(webhdfs, base_dir)
    assert files.pop(f"{base_dir}/victim/secret.txt") == b"keep me"  # untouched, nothing added beside it
    assert all(p.startswith(inside + "/") for p in files), sorted(files)
    by_dir = {p.rsplit("/", 1)[0]: data for p, data in files.items()}
    assert by_dir == {d: f"kept {v}\n".encode() for v, d in kept.items()}
    assert all(p.rsplit("/", 1)[1].startswith("F-a.") for p in files)
    assert set(c.list(base_dir)) == {"in", "victim"}
    assert set(c.list("/")) == root_before


def test_hdfs_itself_refuses_colons_in_names_so_the_rule_refuses_them_up_front(webhdfs: str, base_dir: str) -> None:
    from hdfs.util import HdfsError

    with pytest.raises(HdfsError, match=r"(?i)invalid|not a valid"):
        client(webhdfs).makedirs(f"{base_dir}/12:30")


# -- item 4: hdfs:// through Hadoop's configuration --------------------------------------------


def test_rpc_uri_resolves_through_the_clusters_hadoop_configuration(
    hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hdfs://127.0.0.1:<rpc port>/x with HADOOP_CONF_DIR at the cluster's configuration:
    the WebHDFS port comes from hdfs-site.xml (today it was 9870 whatever the file said)."""
    conf = cluster_conf_dir(hdfs_service, tmp_path)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))
    rpc = hdfs_service.endpoints["rpc"]
    sink = sink_for(tmp_path, **{"hdfs.path": f"{rpc}{base_dir}"})
    assert sink.target.url == webhdfs and not sink.target.assumed
    assert "dfs.namenode.rpc-address" in sink.target.how and str(conf / "hdfs-site.xml") in sink.target.how
    sink.start()
    assert sink.write([Event(b"r%02d" % i) for i in range(20)]) is None
    assert sink.flush(60), sink.uploader.last_error
    sink.stop()
    assert b"".join(tree(webhdfs, base_dir).values()).splitlines() == [b"r%02d" % i for i in range(20)]


class NameNodeFront:
    """An in-process WebHDFS endpoint that answers as a standby NameNode does (HTTP 403 with
    a ``StandbyException``) or, when active, passes each request to the real NameNode."""

    STANDBY = {
        "RemoteException": {
            "exception": "StandbyException",
            "javaClassName": "org.apache.hadoop.ipc.StandbyException",
            "message": "Operation category READ is not supported in state standby. Visit https://s.apache.org/sbnn-error",
        }
    }

    def __init__(self, real: str, active: bool) -> None:
        self.real = real.rstrip("/")
        self.active = active
        self.served = 0
        self.refused = 0
        self.fail_over_to: NameNodeFront | None = None
        """When set: after ``fail_over_after`` requests served, this one turns standby and
        that one active (a failover between two requests of an upload)."""
        self.fail_over_after = 0
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _any(self) -> None:
                import requests

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with front.lock:
                    other = front.fail_over_to
                    if front.active and other is not None and front.served >= front.fail_over_after:
                        front.active, other.active, front.fail_over_to = False, True, None
                if not front.active:
                    front.refused += 1
                    data = json.dumps(front.STANDBY).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                front.served += 1
                res = requests.request(self.command, front.real + self.path, data=body, allow_redirects=False, timeout=30)
                self.send_response(res.status_code)
                for k in ("Content-Type", "Location"):
                    if k in res.headers:
                        self.send_header(k, res.headers[k])
                self.send_header("Content-Length", str(len(res.content)))
                self.end_headers()
                self.wfile.write(res.content)

            do_GET = do_PUT = do_POST = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fronts(webhdfs: str) -> Iterator[list[NameNodeFront]]:
    made = [NameNodeFront(webhdfs, active=False), NameNodeFront(webhdfs, active=False)]
    yield made
    for f in made:
        f.close()


def ha_conf(tmp_path: Path, http_addresses: list[str]) -> Path:
    d = tmp_path / "ha-conf"
    d.mkdir(exist_ok=True)
    nns = [f"nn{i + 1}" for i in range(len(http_addresses))]
    props = {"dfs.nameservices": "flafkacluster", "dfs.ha.namenodes.flafkacluster": ",".join(nns)}
    for nn, address in zip(nns, http_addresses, strict=True):
        props[f"dfs.namenode.rpc-address.flafkacluster.{nn}"] = f"{address.split(':')[0]}:8020"
        props[f"dfs.namenode.http-address.flafkacluster.{nn}"] = address
    (d / "core-site.xml").write_text(site({"fs.defaultFS": "hdfs://flafkacluster"}))
    (d / "hdfs-site.xml").write_text(site(props))
    return d


def test_ha_name_service_skips_a_standby_and_a_dead_namenode(
    webhdfs: str, base_dir: str, tmp_path: Path, fronts: list[NameNodeFront], monkeypatch: pytest.MonkeyPatch
) -> None:
    """hdfs://flafkacluster/… with nn1 standby, nn2 refusing connections, nn3 the real NameNode."""
    from flafka_testkit.services.base import free_port

    standby = fronts[0]
    real = urllib.parse.urlsplit(webhdfs).netloc
    monkeypatch.setenv("HADOOP_CONF_DIR", str(ha_conf(tmp_path, [standby.address, f"127.0.0.1:{free_port()}", real])))
    sink = sink_for(tmp_path, **{"hdfs.path": f"hdfs://flafkacluster{base_dir}"})
    assert sink.target.url.split(";")[0] == f"http://{standby.address}" and sink.target.url.endswith(f";http://{real}")
    sink.start()
    sink.write([Event(b"h%02d" % i) for i in range(10)])
    assert sink.flush(60), sink.uploader.last_error
    sink.stop()
    assert standby.refused >= 1  # it was asked, and answered as a standby
    assert b"".join(tree(webhdfs, base_dir).values()).splitlines() == [b"h%02d" % i for i in range(10)]


def test_ha_failover_when_the_active_namenode_changes_mid_stream(
    webhdfs: str, base_dir: str, tmp_path: Path, fronts: list[NameNodeFront], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two NameNodes in front of the real one: nn1 active, then nn2 (nn1 turns standby in the
    middle of an upload: after the first two requests of a file's status/CREATE/status/RENAME),
    then none (uploads wait, naming the cause), then nn1 again. Every event arrives once."""
    nn1, nn2 = fronts
    nn1.active = True
    monkeypatch.setenv("HADOOP_CONF_DIR", str(ha_conf(tmp_path, [nn1.address, nn2.address])))
    sink = sink_for(tmp_path, **{"hdfs.path": f"hdfs://flafkacluster{base_dir}", "hdfs.rollCount": 5})
    sink.start()

    def phase(tag: bytes) -> list[bytes]:
        batch = [tag + b"%02d" % i for i in range(20)]
        assert sink.write([Event(b) for b in batch]) is None
        return batch

    want = phase(b"a")
    assert sink.flush(60), sink.uploader.last_error
    assert nn1.served and not nn2.served and not nn2.refused  # the first NameNode answered

    nn1.fail_over_to, nn1.fail_over_after = nn2, nn1.served + 2  # failover in the middle of the next upload
    want += phase(b"b")
    assert sink.flush(60), sink.uploader.last_error
    assert not nn1.active and nn2.active and nn1.refused >= 1 and nn2.served >= 1

    nn2.active = False  # no active NameNode at all: the files wait in the staging directory
    want += phase(b"c")
    assert not sink.flush(3)
    assert "no active NameNode" in sink.uploader.last_error and "hdfs haadmin" in sink.uploader.last_error

    nn1.active = True  # the old one is active again
    assert sink.flush(60), sink.uploader.last_error
    sink.stop()
    got = b"".join(data for _, data in sorted(tree(webhdfs, base_dir).items())).splitlines()
    assert sorted(got) == sorted(want)  # each once

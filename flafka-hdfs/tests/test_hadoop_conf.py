"""hdfs:// authorities resolved through Hadoop's client configuration (core-site.xml,
hdfs-site.xml), as Flume's HDFS sink finds its NameNode."""

from __future__ import annotations

from pathlib import Path

import pytest

from flafka.errors import ConfigError
from flafka.testing import make
from flafka_hdfs.client import target
from flafka_hdfs.hadoop_conf import default_webhdfs_url, resolve
from flafka_hdfs.sink import HdfsSink

CORE = """<?xml version="1.0"?><configuration>
<property><name>fs.defaultFS</name><value>hdfs://nn.example.com:8020</value></property>
</configuration>"""
HDFS = """<?xml version="1.0"?><configuration>
<property><name>dfs.namenode.http-address</name><value>0.0.0.0:50070</value></property>
</configuration>"""


def site(**props: str) -> str:
    body = "".join(f"<property><name>{k.replace('__', '.')}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def conf_dir(tmp_path: Path, core: dict[str, str], hdfs: dict[str, str]) -> Path:
    d = tmp_path / "hadoop-conf"
    d.mkdir(exist_ok=True)
    (d / "core-site.xml").write_text(site(**{k.replace(".", "__"): v for k, v in core.items()}))
    (d / "hdfs-site.xml").write_text(site(**{k.replace(".", "__"): v for k, v in hdfs.items()}))
    return d


@pytest.fixture
def use_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Point HADOOP_CONF_DIR at a directory written from the given properties."""
    monkeypatch.delenv("HADOOP_HOME", raising=False)

    def write(core: dict[str, str], hdfs: dict[str, str]) -> Path:
        d = conf_dir(tmp_path, core, hdfs)
        monkeypatch.setenv("HADOOP_CONF_DIR", str(d))
        return d

    return write


HA = {
    "dfs.nameservices": "mycluster",
    "dfs.ha.namenodes.mycluster": "nn1, nn2",
    "dfs.namenode.rpc-address.mycluster.nn1": "m1.example.com:8020",
    "dfs.namenode.rpc-address.mycluster.nn2": "m2.example.com:8020",
    "dfs.namenode.http-address.mycluster.nn1": "m1.example.com:9870",
    "dfs.namenode.http-address.mycluster.nn2": "m2.example.com:9870",
    "dfs.client.failover.proxy.provider.mycluster": "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
}


# -- the default file system --------------------------------------------------------------


def test_default_fs_from_hadoop_conf_dir(tmp_path: Path) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    (tmp_path / "hdfs-site.xml").write_text(HDFS)
    found = default_webhdfs_url({"HADOOP_CONF_DIR": str(tmp_path)})
    assert found is not None
    assert found[0] == "http://nn.example.com:50070"  # the wildcard host is the RPC host
    assert str(tmp_path / "core-site.xml") in found[1] and "dfs.namenode.http-address" in found[1]


def test_default_port_without_hdfs_site(tmp_path: Path) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    found = default_webhdfs_url({"HADOOP_CONF_DIR": str(tmp_path)})
    assert found is not None and found[0] == "http://nn.example.com:9870"


def test_bare_flume_path_uses_the_default_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    assert target("/user/kawasaki/hdfsstore", "") == target("/user/kawasaki/hdfsstore", "http://nn.example.com:9870")


def test_bare_path_without_any_configuration_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    with pytest.raises(ConfigError, match="HADOOP_CONF_DIR"):
        target("/user/kawasaki/hdfsstore", "")


def test_default_fs_naming_an_ha_name_service_gives_every_namenode(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({"fs.defaultFS": "hdfs://mycluster"}, HA)
    t = target("/flume/events", "")
    assert t.url == "http://m1.example.com:9870;http://m2.example.com:9870"
    assert t.path == "/flume/events"


# -- an explicit authority: RPC address -> HTTP address -------------------------------------


def test_rpc_authority_gives_the_namenodes_http_address_not_9870(use_conf) -> None:  # type: ignore[no-untyped-def]
    """Today's bug: hdfs://127.0.0.1:<rpc>/x went to port 9870 whatever hdfs-site.xml said."""
    d = use_conf(
        {"fs.defaultFS": "hdfs://127.0.0.1:41234"},
        {"dfs.namenode.rpc-address": "127.0.0.1:41234", "dfs.namenode.http-address": "127.0.0.1:45678"},
    )
    t = target("hdfs://127.0.0.1:41234/flume/%Y", "")
    assert (t.url, t.path) == ("http://127.0.0.1:45678", "/flume/%Y")
    assert "dfs.namenode.rpc-address = 127.0.0.1:41234" in t.how and str(d / "hdfs-site.xml") in t.how
    assert not t.assumed


def test_authority_without_port_means_rpc_port_8020(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, {"dfs.namenode.rpc-address": "nn.example.com:8020", "dfs.namenode.http-address": "nn.example.com:50070"})
    assert target("hdfs://nn.example.com/x", "").url == "http://nn.example.com:50070"
    assert target("hdfs://NN.example.com:8020/x", "").url == "http://nn.example.com:50070"


def test_federated_name_services_match_their_own_rpc_address(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf(
        {},
        {
            "dfs.nameservices": "ns1,ns2",
            "dfs.namenode.rpc-address.ns1": "a.example.com:8020",
            "dfs.namenode.http-address.ns1": "a.example.com:9870",
            "dfs.namenode.rpc-address.ns2": "b.example.com:8020",
            "dfs.namenode.http-address.ns2": "b.example.com:9871",
        },
    )
    assert target("hdfs://b.example.com:8020/x", "").url == "http://b.example.com:9871"
    assert target("hdfs://ns1/x", "").url == "http://a.example.com:9870"  # the name service itself


def test_one_namenode_of_an_ha_pair_by_its_rpc_address(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, HA)
    assert target("hdfs://m2.example.com:8020/x", "").url == "http://m2.example.com:9870"


def test_ha_name_service_gives_every_namenode_in_order(use_conf) -> None:  # type: ignore[no-untyped-def]
    """Today's bug: hdfs://mycluster/x went to http://mycluster:9870."""
    d = use_conf({}, HA)
    t = target("hdfs://mycluster/flume", "")
    assert t.url == "http://m1.example.com:9870;http://m2.example.com:9870"
    assert "dfs.ha.namenodes.mycluster = nn1,nn2" in t.how and str(d / "hdfs-site.xml") in t.how


def test_https_only_policy_uses_https_addresses(use_conf) -> None:  # type: ignore[no-untyped-def]
    hdfs = {k.replace("http-address", "https-address"): v.replace("9870", "9871") for k, v in HA.items()}
    use_conf({}, hdfs | {"dfs.http.policy": "HTTPS_ONLY"})
    assert target("hdfs://mycluster/x", "").url == "https://m1.example.com:9871;https://m2.example.com:9871"


def test_missing_http_address_uses_the_rpc_host_and_the_default_port(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, {k: v for k, v in HA.items() if "http-address" not in k})
    assert target("hdfs://mycluster/x", "").url == "http://m1.example.com:9870;http://m2.example.com:9870"


def test_wildcard_http_address_takes_the_rpc_host(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, HA | {"dfs.namenode.http-address.mycluster.nn2": "0.0.0.0:50070"})
    assert target("hdfs://mycluster/x", "").url == "http://m1.example.com:9870;http://m2.example.com:50070"


def test_variables_in_values_are_expanded(use_conf, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NN_HOST", "env-nn.example.com")
    use_conf(
        {"nn.host": "nn.example.com"},
        {"dfs.namenode.rpc-address": "${nn.host}:8020", "dfs.namenode.http-address": "${env.NN_HOST}:9870"},
    )
    assert target("hdfs://nn.example.com/x", "").url == "http://env-nn.example.com:9870"


def test_webhdfs_url_may_name_the_file_system_by_its_hdfs_uri(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, HA)
    assert target("/x", "hdfs://mycluster").url == "http://m1.example.com:9870;http://m2.example.com:9870"
    assert target("hdfs://mycluster/x", "http://gateway:8443").url == "http://gateway:8443"  # an http URL is used as is


# -- errors name the file and the key; an unknown authority is an announced assumption -------


def test_namenode_without_any_address_names_the_file_and_key(use_conf) -> None:  # type: ignore[no-untyped-def]
    d = use_conf({}, {k: v for k, v in HA.items() if not k.endswith("nn2")})
    with pytest.raises(ConfigError) as err:
        target("hdfs://mycluster/x", "")
    text = str(err.value)
    assert "dfs.namenode.http-address.mycluster.nn2" in text and str(d / "hdfs-site.xml") in text


def test_name_service_with_a_port_is_refused(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, HA)
    with pytest.raises(ConfigError, match=r"'mycluster' is a name service.*write hdfs://mycluster/"):
        target("hdfs://mycluster:8020/x", "")


def test_broken_xml_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hdfs-site.xml").write_text("<configuration><property>")
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=f"{tmp_path / 'hdfs-site.xml'} is not valid XML"):
        target("hdfs://nn/x", "")


def test_unknown_authority_assumes_port_9870_and_says_so(use_conf) -> None:  # type: ignore[no-untyped-def]
    use_conf({}, HA)
    t = target("hdfs://other.example.com:8020/x", "")
    assert t.url == "http://other.example.com:9870" and t.assumed
    assert "'other.example.com:8020' is neither a name service nor a NameNode RPC address" in t.how
    assert "set hdfs.webhdfs.url" in t.how
    problems = HdfsSink.check_settings(make(HdfsSink, "k", **{"hdfs.path": "hdfs://other.example.com:8020/x"}).settings)
    assert any(p.severity == "warning" and p.key == "hdfs.path" and "assuming WebHDFS" in p.message for p in problems)


def test_no_configuration_at_all_is_the_same_assumption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path / "missing"))
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    found = resolve("namenode:8020", env={"HADOOP_CONF_DIR": str(tmp_path / "missing")})
    assert found.urls == ("http://namenode:9870",) and found.assumed
    assert "no core-site.xml or hdfs-site.xml in" in found.how and str(tmp_path / "missing") in found.how


def test_core_and_hdfs_site_are_each_taken_from_the_first_directory_holding_them(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b" / "etc" / "hadoop"
    first.mkdir()
    second.mkdir(parents=True)
    (first / "core-site.xml").write_text(site(fs__defaultFS="hdfs://mycluster"))
    (second / "hdfs-site.xml").write_text(site(**{k.replace(".", "__"): v for k, v in HA.items()}))
    (second / "core-site.xml").write_text(site(fs__defaultFS="hdfs://elsewhere:8020"))
    found = resolve("", env={"HADOOP_CONF_DIR": str(first), "HADOOP_HOME": str(tmp_path / "b")})
    assert found.urls == ("http://m1.example.com:9870", "http://m2.example.com:9870")

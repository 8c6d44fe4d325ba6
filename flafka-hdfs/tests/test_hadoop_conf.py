from __future__ import annotations

from pathlib import Path

import pytest

from flafka_hdfs.client import target
from flafka_hdfs.hadoop_conf import default_webhdfs_url

CORE = """<?xml version="1.0"?><configuration>
<property><name>fs.defaultFS</name><value>hdfs://nn.example.com:8020</value></property>
</configuration>"""
HDFS = """<?xml version="1.0"?><configuration>
<property><name>dfs.namenode.http-address</name><value>0.0.0.0:50070</value></property>
</configuration>"""


def test_default_fs_from_hadoop_conf_dir(tmp_path: Path) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    (tmp_path / "hdfs-site.xml").write_text(HDFS)
    found = default_webhdfs_url({"HADOOP_CONF_DIR": str(tmp_path)})
    assert found == ("http://nn.example.com:50070", str(tmp_path / "core-site.xml"))


def test_default_port_without_hdfs_site(tmp_path: Path) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    assert default_webhdfs_url({"HADOOP_CONF_DIR": str(tmp_path)}) == ("http://nn.example.com:9870", str(tmp_path / "core-site.xml"))


def test_bare_flume_path_uses_the_default_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "core-site.xml").write_text(CORE)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    assert target("/user/kawasaki/hdfsstore", "") == target("/user/kawasaki/hdfsstore", "http://nn.example.com:9870")


def test_bare_path_without_any_configuration_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    from flafka.errors import ConfigError

    with pytest.raises(ConfigError, match="HADOOP_CONF_DIR"):
        target("/user/kawasaki/hdfsstore", "")

"""How the Kudu client's jars reach a machine: downloaded once from a Maven repository
(a file:// repository here), refused when the SHA-256 differs from the pinned one, used
offline afterwards, or taken from FLAFKA_KUDU_CLASSPATH."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flafka_kudu import jars


def repo_with(tmp_path: Path, content: dict[str, bytes]) -> str:
    root = tmp_path / "repo"
    for jar in jars.JARS:
        path = root / jar.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.get(jar.name, b""))
    return root.as_uri()


def test_a_jar_whose_checksum_differs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAFKA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLAFKA_MAVEN_REPO", repo_with(tmp_path, {jars.JARS[0].name: b"not the real jar"}))
    monkeypatch.delenv("FLAFKA_KUDU_CLASSPATH", raising=False)
    with pytest.raises(jars.JarError, match="is not the pinned"):
        jars.classpath()
    assert not (tmp_path / "cache" / "kudu-client" / jars.JARS[0].name).exists()


def test_fetched_once_then_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = jars.classpath()  # the project's own cache (downloaded from Maven Central if missing)
    content = {Path(p).name: Path(p).read_bytes() for p in real}
    monkeypatch.setenv("FLAFKA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLAFKA_MAVEN_REPO", repo_with(tmp_path, content))
    got = jars.classpath()
    assert [Path(p).name for p in got] == [j.name for j in jars.JARS]
    shutil.rmtree(tmp_path / "repo")  # the repository is gone: the cache is enough
    assert jars.classpath() == got and jars.verify() == []


def test_configured_classpath_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kudu-client-9.9.jar").write_bytes(b"")
    monkeypatch.setenv("FLAFKA_KUDU_CLASSPATH", str(tmp_path))
    assert jars.classpath() == [str(tmp_path / "kudu-client-9.9.jar")]
    monkeypatch.setenv("FLAFKA_KUDU_CLASSPATH", str(tmp_path / "empty-dir-missing"))
    with pytest.raises(jars.JarError, match="holds no kudu-client jar"):
        jars.classpath()

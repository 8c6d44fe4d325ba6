"""docs/plugins.md stays true: every python/toml block in it is a verbatim excerpt of this
example (or, after a ``<!-- from: path -->`` line, of the named repository file), and the
layout it shows matches this folder. Skipped outside the Flafka repository (an sdist has
no docs/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1]
REPO = EXAMPLE.parents[1]
DOC = REPO / "docs" / "plugins.md"
CHECKED = ("python", "toml")
BLOCK = re.compile(r"(?:<!-- from: (?P<source>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.skipif(not DOC.exists(), reason="docs/plugins.md is not here (not in the Flafka repository)")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip("\n").split("\n")]


def _example_files() -> list[Path]:
    return [EXAMPLE / "pyproject.toml", *sorted((EXAMPLE / "src").rglob("*.py")), *sorted((EXAMPLE / "tests").glob("*.py"))]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _blocks() -> list[tuple[str, str, str]]:
    text = DOC.read_text("utf-8") if DOC.exists() else ""
    return [(m["lang"], m["body"], m["source"] or "") for m in BLOCK.finditer(text)]


def test_the_doc_has_code_blocks_from_the_example() -> None:
    checked = [b for b in _blocks() if b[0] in CHECKED]
    assert len([b for b in checked if not b[2]]) >= 10


@pytest.mark.parametrize(("lang", "body", "source"), [b for b in _blocks() if b[0] in CHECKED])
def test_code_block_is_an_excerpt_of_working_code(lang: str, body: str, source: str) -> None:
    files = [REPO / source] if source else _example_files()
    needle = _lines(body)
    for path in files:
        if _contains(_lines(path.read_text("utf-8")), needle):
            return
    where = source or "examples/flafka-example-jsonl"
    pytest.fail(f"this {lang} block of docs/plugins.md is not in {where}; copy it again from the code:\n{body}")


def test_layout_block_lists_the_real_files() -> None:
    layout = next(body for lang, body, _ in _blocks() if lang == "text" and body.startswith("flafka-example-jsonl/"))
    listed = {line.strip() for line in layout.splitlines()[1:] if line.strip()}
    real = {str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    missing = {p for p in listed if not (EXAMPLE / p).is_file()}
    assert not missing, f"docs/plugins.md lists files that do not exist: {missing}"
    unlisted = {p for p in real if p.startswith(("src/", "tests/")) or "/" not in p} - listed
    assert not unlisted, f"files missing from the layout in docs/plugins.md: {unlisted}"

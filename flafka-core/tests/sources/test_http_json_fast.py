"""JSONHandler's fast paths (msgspec when installed, the one-pass builder of plain batches)
give the same events and the same 400 reasons as the item-by-item rules on the json
module, whatever the body."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources import httphandlers
from flafka.sources.httphandlers import BadRequest, HttpRequest, JSONHandler


def outcome(body: bytes, charset: str | None = None) -> object:
    try:
        return [(e.headers, e.body) for e in JSONHandler().get_events(HttpRequest("POST", "/", {}, {}, body, charset))]
    except BadRequest as exc:
        return ("400", str(exc))
    except Exception as exc:  # what the old rules let through (a 500): must match too
        return ("500", type(exc).__name__)


def reference(body: bytes, charset: str | None, monkeypatch: pytest.MonkeyPatch) -> object:
    """The item-by-item rules alone: no msgspec, no plain-batch builder."""
    with monkeypatch.context() as m:
        m.setattr(httphandlers, "_typed_items", None)
        m.setattr(httphandlers, "_plain_events", lambda data, charset: None)
        return outcome(body, charset)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6
)
headers = st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8) | values, max_size=3) | values
items = st.fixed_dictionaries({}, optional={"headers": headers, "body": st.none() | st.text(max_size=30) | values, "extra": values})
texts = st.lists(items | values, max_size=5).map(json.dumps)
texts |= st.lists(items, max_size=5).map(lambda v: json.dumps(v, ensure_ascii=False))


@settings(max_examples=400, deadline=None)
@given(text=texts, charset=st.sampled_from([None, "UTF-8", "utf-8", "UTF-16", "UTF-32"]))
def test_fast_paths_match_the_item_by_item_rules(text: str, charset: str | None) -> None:
    body = text.encode(charset or "utf-8", "surrogatepass")
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert outcome(body, charset) == reference(body, charset, monkeypatch)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200), charset=st.sampled_from([None, "UTF-16"]))
def test_fast_paths_match_on_any_bytes(body: bytes, charset: str | None) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert outcome(body, charset) == reference(body, charset, monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"headers": {"a": "b"}, "body": "x"}, {"body": null}, {"headers": null}, {}]',
        b'[{"headers": {"n": 12, "f": 1.50, "t": true}, "body": 1e400}]',  # numbers keep their text
        b'[{"headers": {"a": null}, "body": ""}]',  # a null header is dropped
        b'[{"headers": "", "body": "x"}, {"headers": [], "body": false}]',  # empty headers of any type
        b'\xef\xbb\xbf[{"body": "bom"}]',
        b'[{"body": "\\ud800"}]',  # lone surrogate: the old rules' 500
        b'[{"body": "\\ud83d\\ude00"}]',
        b'[{"body": "a", "body": "b"}]',  # the last duplicate wins
        b'[NaN]',
        b'[{"body": "x"}] trailing',
        b"  \n ",
        b'{"body": "x"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_known_corners_match(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert outcome(body) == reference(body, None, monkeypatch)


def test_msgspec_is_used_when_installed() -> None:
    pytest.importorskip("msgspec")
    assert httphandlers._typed_items is not None


def test_the_plain_batch_builder_alone_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without msgspec: the json module and the one-pass builder."""
    bodies = [b'[{"headers": {"a": "b"}, "body": "x"}, {}]', b'[{"headers": {"a": 1}, "body": "x"}]', b'[{"body": true}]', b"[1]"]
    for body in bodies:
        want = reference(body, None, monkeypatch)
        monkeypatch.setattr(httphandlers, "_typed_items", None)
        assert outcome(body) == want
        monkeypatch.undo()

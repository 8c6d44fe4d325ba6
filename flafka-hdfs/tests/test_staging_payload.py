"""What an upload sends: the payload of a staging file's whole frames, with its length
known up front (``Content-Length``), large frames as read and small ones joined."""

from __future__ import annotations

from pathlib import Path

import requests

from flafka_hdfs.staging import Payload, StagingFile, iter_payload, scan


def staged(tmp_path: Path, payloads: list[bytes]) -> StagingFile:
    f = StagingFile.create(tmp_path, "000000000000001", {"final": "x"})
    for p in payloads:
        f.append(p)
    f.write_out(f.unpublished)
    f.sync()
    f.close()
    return f


def test_payload_is_the_frames_in_order_with_their_total_length(tmp_path: Path) -> None:
    payloads = [b"a" * 100_000, b"b" * 10, b"c" * 20, b"d" * 70_000, b"e" * 5]
    f = staged(tmp_path, payloads)
    found = scan(f.path)
    body = Payload(f.path, found.valid_length, found.payload_size)
    assert len(body) == sum(map(len, payloads)) == found.payload_size
    pieces = list(body)
    assert b"".join(pieces) == b"".join(payloads)
    assert [len(p) for p in pieces] == [100_000, 30, 70_000, 5]  # big frames as read, small ones joined


def test_small_frames_are_joined_into_pieces_of_about_chunk_bytes(tmp_path: Path) -> None:
    payloads = [bytes([i % 251]) * 1000 for i in range(600)]
    f = staged(tmp_path, payloads)
    pieces = list(iter_payload(f.path, scan(f.path).valid_length, chunk=64_000))
    assert b"".join(pieces) == b"".join(payloads)
    assert all(len(p) == 64_000 for p in pieces[:-1]) and len(pieces) == 10


def test_a_torn_tail_is_not_sent(tmp_path: Path) -> None:
    f = staged(tmp_path, [b"x" * 500, b"y" * 500])
    with open(f.path, "ab") as fh:
        fh.write(b"FHS1\x00\x00")  # a frame header cut short
    found = scan(f.path)
    assert b"".join(Payload(f.path, found.valid_length, found.payload_size)) == b"x" * 500 + b"y" * 500


def test_requests_sends_it_with_content_length_not_chunked(tmp_path: Path) -> None:
    f = staged(tmp_path, [b"x" * 300_000])
    found = scan(f.path)
    prepared = requests.Request("PUT", "http://127.0.0.1:9/x", data=Payload(f.path, found.valid_length, found.payload_size)).prepare()
    assert prepared.headers.get("Content-Length") == "300000"
    assert "Transfer-Encoding" not in prepared.headers

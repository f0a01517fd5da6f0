"""How much of an answer the hooks keep (``hooks/bodies.py``): the cap holds for compressed
answers too, measured on what is decoded."""

from __future__ import annotations

import gzip
import zlib

import pytest

from airflow_provider_sms.hooks.bodies import (
    AnswerTooLargeError,
    AnswerUndecodableError,
    BoundedBody,
    declared_length,
)


def feed_all(body: BoundedBody, data: bytes, chunk: int = 4096) -> bytes:
    for i in range(0, len(data), chunk):
        body.feed(data[i : i + chunk])
    return body.body()


@pytest.mark.parametrize("encoding", [None, "identity", "gzip", "x-gzip", "deflate"])
def test_a_small_answer_comes_through_in_any_encoding(encoding: str | None) -> None:
    answer = b'{"requestId": "r1"}' * 100
    raw = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress}.get(
        encoding or "", bytes
    )(answer)
    assert feed_all(BoundedBody(encoding, cap=10_000), raw) == answer


def test_the_cap_counts_raw_bytes() -> None:
    body = BoundedBody(None, cap=1000)
    with pytest.raises(AnswerTooLargeError, match="larger than 1,000 bytes"):
        feed_all(body, b"x" * 1001)
    assert body.raw_bytes <= 1000 + 4096  # stopped at the chunk that passed the cap


def test_a_compression_bomb_is_stopped_at_the_cap_of_decoded_bytes() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB that decode to 50 MB
    body = BoundedBody("gzip", cap=1_000_000)
    with pytest.raises(AnswerTooLargeError, match="decompresses to more than 1,000,000 bytes"):
        feed_all(body, bomb)
    assert len(body.body()) <= 1_000_000


def test_unknown_or_broken_encodings_are_refused() -> None:
    with pytest.raises(AnswerUndecodableError, match="'br'"):
        BoundedBody("br")
    with pytest.raises(AnswerUndecodableError, match="broken"):
        feed_all(BoundedBody("gzip"), b"not gzip at all")


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ({"content-length": "123"}, 123),
        ({}, None),
        ({"content-length": "-1"}, None),
        ({"content-length": "9" * 30}, None),
    ],
)
def test_declared_length(headers: dict[str, str], length: int | None) -> None:
    assert declared_length(headers) == length

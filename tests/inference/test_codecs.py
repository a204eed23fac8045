"""Default codecs (the toolkit's decoder/encoder) and content negotiation."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from inference import codecs
from inference.errors import BadRequest, UnsupportedAccept, UnsupportedContentType

ARRAY = np.arange(6, dtype=np.float32).reshape(2, 3)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_decode_each_type() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, first=ARRAY, second=ARRAY * 2)
    assert np.array_equal(codecs.decode(b"[[0,1,2],[3,4,5]]", "application/json"), ARRAY)
    assert np.array_equal(codecs.decode(b"0,1,2\n3,4,5\n", "text/csv"), ARRAY)
    assert np.array_equal(codecs.decode(npy(ARRAY), "application/x-npy"), ARRAY)
    assert np.array_equal(codecs.decode(buffer.getvalue(), "application/x-npz"), ARRAY)


def test_decode_reads_the_media_type_without_parameters_or_case() -> None:
    assert codecs.decode(b"[1]", "Application/JSON; charset=utf-8").tolist() == [1]
    assert codecs.decode(b"[1]", "").tolist() == [1]  # no Content-Type: JSON, as the toolkit


@pytest.mark.parametrize(
    ("body", "content_type", "error", "says"),
    [
        (b"{", "application/json", BadRequest, "not valid application/json"),
        (b'["a"]', "application/json", BadRequest, "numbers"),
        (b"[1, NaN]", "application/json", BadRequest, "nan"),
        (b"1,2\n3\n", "text/csv", BadRequest, "not valid text/csv"),
        (b"\xff\xfe", "text/csv", BadRequest, "not valid text/csv"),
        (b"NUMPY", "application/x-npy", BadRequest, "not valid application/x-npy"),
        (npy(ARRAY), "application/x-npz", BadRequest, "npz"),
        (b"", "application/json", BadRequest, "empty"),
        (b"[1]", "application/xml", UnsupportedContentType, "application/xml"),
    ],
)
def test_decode_errors(body: bytes, content_type: str, error: type, says: str) -> None:
    with pytest.raises(error) as caught:
        codecs.decode(body, content_type)
    assert says in caught.value.message.lower()
    assert caught.value.status_code == {BadRequest: 400, UnsupportedContentType: 415}[error]


def test_encode_each_type_from_tensor_array_or_list() -> None:
    tensor = torch.from_numpy(ARRAY)
    body, content_type = codecs.encode(tensor, "application/json")
    assert (json.loads(body), content_type) == (ARRAY.tolist(), "application/json")
    assert codecs.encode([1, 2], "application/json")[0] == b"[1, 2]"
    body, content_type = codecs.encode(ARRAY, "text/csv")
    assert np.array_equal(np.loadtxt(io.StringIO(body.decode()), delimiter=","), ARRAY)
    body, content_type = codecs.encode(tensor, "application/x-npy")
    assert np.array_equal(np.load(io.BytesIO(body)), ARRAY)


def test_csv_has_a_line_per_item_as_the_toolkit_writes_it() -> None:
    assert codecs.encode(np.array([7, 1, 3]), "text/csv")[0] == b"7\n1\n3\n"
    assert codecs.encode(np.array([[7, 1], [3, 4]]), "text/csv")[0] == b"7,1\n3,4\n"
    assert codecs.encode(5, "text/csv")[0] == b"5\n"


def test_encode_refuses_unknown_accept_with_406() -> None:
    with pytest.raises(UnsupportedAccept, match="text/html") as caught:
        codecs.encode(ARRAY, "text/html")
    assert caught.value.status_code == 406


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("image/png, text/csv;q=0.5", "text/csv"),
        ("text/csv;q=0.2, application/x-npy", "application/x-npy"),
        ("application/json;q=0, text/csv", "text/csv"),
        ("image/png", "image/png"),  # kept, so the encoder can answer 406
        ("image/png, */*;q=0.1", "application/json"),
        ("text/csv;q=bad", "application/json"),
    ],
)
def test_negotiate(accept: str | None, chosen: str) -> None:
    assert codecs.negotiate(accept) == chosen


@pytest.mark.parametrize("accept", [None, "", "*/*", "image/png, */*;q=0.1"])
def test_a_model_sets_the_default_accept_as_the_toolkit_reads_it(
    accept: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    default = codecs.default_accept()
    assert codecs.negotiate(accept, default) == "text/csv"
    assert codecs.negotiate("application/x-npy", default) == "application/x-npy"  # listed wins

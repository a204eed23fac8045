"""Malformed bodies, content types and accept headers: always a 4xx with a JSON error, never a
5xx, and the server stays healthy."""

from __future__ import annotations

import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.served import TestClient

TYPES = ["application/json", "text/csv", "application/x-npy", "application/x-npz"]
ACCEPTS = ["application/json", "text/csv", "application/x-npy", "*/*", ""]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _json_values():
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
    )
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner)
    )


# Arrays that look nearly right: wrong sizes, wrong dtypes, out-of-range or non-finite pixels.
_bad_arrays = st.one_of(
    st.tuples(st.integers(0, 3), st.integers(0, 800)).map(lambda s: np.zeros(s)),
    st.sampled_from([np.nan, np.inf, -np.inf, 256.0, 1e30]).map(lambda v: np.full((1, 784), v)),
    st.just(np.zeros((2, 28, 27))),
    st.just(np.array([["x"] * 784])),
    st.just(np.zeros((1, 784), dtype=np.complex64)),
    st.just(np.zeros((1, 784), dtype=bool)),
)

bodies = st.one_of(
    st.binary(max_size=300),
    _json_values().map(lambda v: json.dumps(v).encode()),
    st.text(alphabet="0123456789,.-e\n naN", max_size=300).map(str.encode),
    _bad_arrays.map(_npy),
    _bad_arrays.map(lambda a: json.dumps(a.tolist(), default=str).encode()),
    st.binary(max_size=200).map(lambda b: b"\x93NUMPY\x01\x00" + b),
)
content_types = st.one_of(
    st.sampled_from(TYPES),
    st.sampled_from(TYPES).map(lambda t: t.upper() + "; charset=latin-1"),
    st.text(max_size=30),
)
accepts = st.one_of(st.sampled_from(ACCEPTS), st.text(max_size=30))


def _header_safe(value: str) -> str:
    # HTTP header values are latin-1 without control characters; httpx refuses anything else.
    return "".join(c for c in value if 32 <= ord(c) < 127)


@settings(
    max_examples=1100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=content_types, accept=accepts)
def test_malformed_requests_get_4xx_json(client: TestClient, body, content_type, accept) -> None:
    headers = {"content-type": _header_safe(content_type), "accept": _header_safe(accept)}
    response = client.post("/invocations", content=body, headers=headers)
    if response.status_code == 200:
        # A body can be accidentally valid (e.g. 784 digits of CSV): then it is a real answer.
        assert response.headers["content-type"].split(";")[0] in ACCEPTS[:3]
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        error = response.json()
        assert error["code"] == response.status_code
        assert error["message"]
    assert client.get("/ping").status_code == 200, "a malformed request left the server unhealthy"

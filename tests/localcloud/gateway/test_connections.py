"""Keep-alive: a client's connection carries its next request, unless what is left of a body
could be mistaken for one. A request line or head over the bounds gets AWS's error shape for
its protocol, which botocore parses, never an HTML page."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.gateway.connections import DRAIN_LIMIT, MAX_HEADERS, MAX_LINE_BYTES
from tests.helpers.cloud import BUCKET, Cloud

HEALTH = "/_smlocal/health"


def _connect(cloud: Cloud) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("localhost", cloud.port, timeout=30)


def _get_health(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    conn.request("GET", HEALTH)
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b'{"status": "ok"}')
    return response


def test_one_connection_carries_several_requests(cloud: Cloud) -> None:
    conn = _connect(cloud)
    try:
        first = _get_health(conn)
        sock = conn.sock
        assert not first.will_close and first.getheader("Connection") is None
        second = _get_health(conn)
        assert conn.sock is sock and not second.will_close  # the same socket served both
    finally:
        conn.close()


def test_an_unread_body_is_not_taken_for_the_next_request(cloud: Cloud) -> None:
    # Refused before its body is read (no signature): the body, which looks like a request of
    # its own, is dropped and the next request on the connection is answered as itself.
    smuggled = b"DELETE /localcloud-tests HTTP/1.1\r\nHost: localhost\r\n\r\n" * 10
    conn = _connect(cloud)
    try:
        conn.request("PUT", "/localcloud-tests/k", body=smuggled)
        refused = conn.getresponse()
        assert refused.status == 403 and b"AccessDenied" in refused.read()
        assert not refused.will_close
        sock = conn.sock
        _get_health(conn)
        assert conn.sock is sock
    finally:
        conn.close()


def test_a_large_unread_body_closes_the_connection(cloud: Cloud) -> None:
    conn = _connect(cloud)
    try:
        conn.putrequest("PUT", "/localcloud-tests/big")
        conn.putheader("Content-Length", str(DRAIN_LIMIT * 4))
        conn.endheaders()
        conn.send(b"x" * 1024)  # the rest never comes: only a close can end this request
        refused = conn.getresponse()
        assert refused.status == 403 and refused.will_close
        refused.read()
    finally:
        conn.close()


def test_a_chunked_request_is_answered_and_the_connection_closed(cloud: Cloud, s3: Any) -> None:
    conn = _connect(cloud)
    try:
        conn.request("PUT", "/localcloud-tests/chunked", body=iter([b"abc"]), encode_chunked=True)
        refused = conn.getresponse()
        assert refused.status == 403 and refused.will_close
        refused.read()
    finally:
        conn.close()


def _with_headers(client: Any, event: str, headers: dict[str, str]) -> Any:
    """`client`, sending `headers` besides its own on `event` (after signing: the gateway
    refuses the head before it reads any signature)."""

    def add(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register(f"before-send.{event}", add)
    return client


MANY = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 20)}
LONG = {"x-long": "a" * (MAX_LINE_BYTES + 10)}


@pytest.mark.parametrize(
    ("service", "call", "headers", "status", "message"),
    [
        # JSON protocol: {"__type", "message"}
        ("sagemaker", lambda c: c.list_models(), LONG, 431, "a header line exceeds 65536 bytes"),
        # query protocol: <ErrorResponse>
        ("sts", lambda c: c.get_caller_identity(), MANY, 431, "more than 100 headers"),
        # S3's XML <Error>, S3's own code and words
        ("s3", lambda c: c.list_objects_v2(Bucket=BUCKET), MANY, 400, "exceeds the maximum"),
    ],
    ids=["json", "query", "s3"],
)
def test_an_oversized_head_gets_a_modelled_error(
    cloud: Cloud,
    service: str,
    call: Callable[[Any], Any],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    client = cloud.client(service, retries=1)
    event = {"sagemaker": "sagemaker.ListModels", "sts": "sts.GetCallerIdentity"}
    _with_headers(client, event.get(service, "s3.ListObjectsV2"), headers)
    with pytest.raises(ClientError) as caught:
        call(client)
    error = caught.value.response
    assert error["Error"]["Code"] == "RequestHeaderSectionTooLarge"
    assert message in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["HTTPHeaders"]["connection"] == "close"


def test_an_over_long_request_line_gets_a_modelled_error(cloud: Cloud, s3: Any) -> None:
    client = cloud.client("s3", retries=1)
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=BUCKET, Key="k" * (MAX_LINE_BYTES + 10))
    error = caught.value.response
    assert error["Error"]["Code"] == "RequestURITooLong"
    assert error["Error"]["Message"] == f"the request line exceeds {MAX_LINE_BYTES} bytes"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 414
    # The cloud serves the next request as ever.
    assert _get_health(_connect(cloud)).status == 200


def test_a_refused_head_is_no_html_page(cloud: Cloud) -> None:
    conn = _connect(cloud)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("X-Amz-Target", "SageMaker.ListModels")
        conn.putheader("Content-Type", "application/x-amz-json-1.1")
        conn.putheader("X-Long", "a" * (MAX_LINE_BYTES + 10))
        conn.endheaders(b"{}")
        refused = conn.getresponse()
        assert refused.status == 431 and refused.will_close
        assert refused.getheader("Content-Type") == "application/x-amz-json-1.1"
        assert refused.read().startswith(b'{"__type": "RequestHeaderSectionTooLarge"')
    finally:
        conn.close()

"""Keep-alive: a client's connection carries its next request, unless what is left of a body
could be mistaken for one."""

from __future__ import annotations

import http.client
from typing import Any

from localcloud.gateway.connections import DRAIN_LIMIT
from tests.helpers.cloud import Cloud

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

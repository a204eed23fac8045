"""The proxy's relay without a cloud: which destinations it refuses, and the byte pump between
two connections (both directions at once, each end's EOF passed on, nothing lost)."""

from __future__ import annotations

import socket
import threading

import pytest

from localcloud.gateway import relay


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: the IPv4 address decides
        ("0.0.0.0", "this network"),
        ("::", "unspecified"),
        ("10.0.0.8", "private"),
        ("172.20.1.1", "private"),
        ("192.168.1.10", "private"),
        ("100.100.1.1", "shared address space"),
        ("169.254.169.254", "link-local"),  # the instance metadata service
        ("fe80::1%eth0", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("198.18.0.1", "benchmarking"),
        ("64:ff9b::a00:1", "NAT64"),  # a NAT64 gateway would carry it to 10.0.0.1
        ("64:ff9b:1::1", "NAT64"),
        ("2001:db8::1", "documentation"),
        ("fec0::1", "site-local"),
        ("2002:7f00:1::1", "loopback"),  # 6to4: the IPv4 address it embeds decides
        ("::7f00:1", "loopback"),  # IPv4-compatible (deprecated): likewise
        ("2001::1", "not public"),  # Teredo, and whatever else is not globally reachable
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        # the IPv4 documentation networks are assigned to no local service; this machine's
        # package registries answer at one of them (pip through the proxy must work)
        ("203.0.113.80", None),
        ("198.51.100.7", None),
    ],
)
def test_what_is_not_public(address: str, kind: str | None) -> None:
    assert relay.not_public(address) == kind


@pytest.mark.parametrize(
    ("host", "aws"),
    [
        ("sts.amazonaws.com", True),
        ("amazonaws.com", True),
        ("bucket.s3.cn-north-1.amazonaws.com.cn", True),
        ("bedrock.us-east-1.api.aws", True),
        ("amazonaws.com.example.org", False),
        ("notamazonaws.com", False),
        ("example.org", False),
    ],
)
def test_aws_names_are_never_relayed(host: str, aws: bool) -> None:
    assert relay.is_aws_name(host) is aws


@pytest.mark.parametrize(
    ("target", "served"),
    [
        ("sts.amazonaws.com:443", "sts.amazonaws.com"),
        ("Bucket.S3.us-east-1.amazonaws.com:443", "bucket.s3.us-east-1.amazonaws.com"),
        ("sts.amazonaws.com:8443", None),  # refused: another port of an AWS name
        ("amazonaws.com:443", None),
        ("s3.cn-north-1.amazonaws.com.cn:443", None),  # AWS's, refused, not served
        ("bedrock.us-east-1.api.aws:443", None),
        ("-bad.amazonaws.com:443", None),  # no certificate carries it
        ("sts.amazonaws.com.:443", None),
    ],
)
def test_the_proxy_serves_the_amazonaws_com_names_the_relay_knows(
    target: str, served: str | None
) -> None:
    from localcloud.gateway.proxy import aws_host

    assert aws_host(target) == served
    assert served is None or relay.is_aws_name(served)


def test_a_target_is_host_and_port() -> None:
    assert relay.split_target("Example.org:8443") == ("example.org", 8443)
    assert relay.split_target("[2001:db8::1]:443") == ("2001:db8::1", 443)
    for bad in ("example.org", "example.org:", ":443", "example.org:0", "example.org:70000", "a:b"):
        with pytest.raises(relay.Refusal) as refused:
            relay.split_target(bad)
        assert refused.value.status == 400


def test_a_loopback_name_is_refused_before_anything_is_connected() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(relay.Refusal) as refused:
            relay.open_upstream("localhost", port)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody knocked
    assert refused.value.status == 403
    assert "not localhost (127.0.0.1): loopback" in str(refused.value)


def test_pump_carries_both_directions_at_once_and_passes_each_eof_on() -> None:
    client, client_side = socket.socketpair()  # the proxy's client, and what the proxy holds
    upstream_side, upstream = socket.socketpair()  # what the proxy holds, and the real host
    pumping = threading.Thread(target=relay.pump, args=(client_side, upstream_side, 10.0))
    pumping.start()
    up, down = bytes(range(256)) * 8192, b"x" * 3_000_000  # more than any socket buffer holds
    received: dict[str, bytes] = {}

    def send_then_read(name: str, sock: socket.socket, data: bytes) -> None:
        def send() -> None:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        received[name] = b"".join(iter(lambda: sock.recv(65536), b""))  # to the peer's EOF
        sender.join()

    ends = [
        threading.Thread(target=send_then_read, args=("client", client, up)),
        threading.Thread(target=send_then_read, args=("upstream", upstream, down)),
    ]
    for end in ends:
        end.start()
    for end in ends:
        end.join(60)
    pumping.join(10)
    assert not pumping.is_alive()  # both ends finished: the relay ended by itself
    assert received["client"] == down
    assert received["upstream"] == up
    for sock in (client, client_side, upstream_side, upstream):
        sock.close()


def test_pump_ends_a_relay_idle_both_ways() -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        relay.pump(b, c, idle_s=0.05)  # nothing moves: it returns
        d.settimeout(1)
        a.sendall(b"late")
        with pytest.raises(TimeoutError):
            d.recv(4)  # the relay is over: nothing carried any more

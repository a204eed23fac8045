"""The proxy's relay: a CONNECT to a host that is not AWS's goes to that host as a plain TCP
stream, so a shell with the cloud's environment (HTTPS_PROXY) still reaches the package
registries and the rest of the internet. Nothing is decrypted: the client's TLS runs end to
end with the real host, which it verifies with its own trust store.

What is never relayed: AWS's names (`aws_domain`: `*.amazonaws.com`, `*.amazonaws.com.cn`,
`*.api.aws`; the cloud serves the first on 443 (`proxy.aws_host`) and refuses the others, so a
request meant for the local cloud never leaves the machine), and any address that is not
globally reachable (`not_public`): loopback, this network, RFC 1918, shared (CGNAT),
link-local with the instance metadata address, unique-local and site-local, multicast,
reserved, IETF protocol assignments, benchmarking, IPv6 documentation, NAT64 (64:ff9b::/96,
64:ff9b:1::/48: a NAT64 gateway would carry it to any IPv4 address), and an IPv6 address that
embeds an IPv4 one (IPv4-mapped, IPv4-compatible, 6to4) when that one is any of these; and
whatever interface address the connection turns out to loop back to. So the relay is no way
into a local service the cloud can reach and its user's proxy is not (a serving process,
another cloud, a database). The IPv4 documentation networks (TEST-NET-1/2/3) are relayed:
they are assigned to no network and no interface of a machine by convention, so they reach
no local service, and this machine's package registries answer at one of them (pip, npm and
curl through the proxy must keep working). The name is resolved once and the checked address
is the one connected to (no second lookup a rebinding DNS could answer differently).

Bounds: `MAX_RELAYS` connections at once (503 beyond), `CONNECT_TIMEOUT_S` to reach the host,
a relay idle both ways for `IDLE_TIMEOUT_S` is closed, and at most `_BUFFER_LIMIT` bytes are
held per direction (a slow reader slows its sender; nothing grows without bound).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import selectors
import socket
from typing import Any

MAX_RELAYS = 128
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0  # below the 350 s a NAT gateway keeps an idle TCP flow
_CHUNK = 64 * 1024
_BUFFER_LIMIT = 256 * 1024
AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "api.aws")
_PORT = re.compile(r"[0-9]{1,5}")
# Refused, by name (the refusal says which); any other address that is not globally reachable
# (`ipaddress`'s is_global) is refused as "not public", but the IPv4 documentation networks.
_NOT_PUBLIC = [
    (ipaddress.ip_network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "NAT64"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
]
_DOCUMENTATION_V4 = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


class Refusal(Exception):
    """A CONNECT the relay does not carry: the HTTP status to answer and one line why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def split_target(target: str) -> tuple[str, int]:
    """(host, port) of a CONNECT target (`host:port`, `[v6]:port`), or a 400 Refusal."""
    host, colon, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        raise Refusal(400, f"a CONNECT target is host:port, not {target[:200]!r}")
    return host.lower(), int(port)


def aws_domain(host: str) -> str | None:
    """The AWS domain (`AWS_DOMAINS`) that `host` is or is under (a final dot ignored), else
    None."""
    name = host.lower().removesuffix(".")
    for domain in AWS_DOMAINS:
        if name == domain or name.endswith(f".{domain}"):
            return domain
    return None


def is_aws_name(host: str) -> bool:
    """Whether `host` is one of AWS's names, which the relay never carries."""
    return aws_domain(host) is not None


def _embedded(ip: Any) -> Any:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, 6to4): where the
    connection would really go. Others as they are."""
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if 1 < int(ip) < 2**32:  # IPv4-compatible (::a.b.c.d, deprecated), not :: or ::1
        return ipaddress.IPv4Address(int(ip))
    return ip


def not_public(address: str) -> str | None:
    """What kind of address the relay does not reach `address` is (loopback, private, ...),
    or None."""
    ip = _embedded(ipaddress.ip_address(address.split("%", 1)[0]))  # a zone names a link
    for network, kind in _NOT_PUBLIC:
        if ip.version == network.version and ip in network:
            return kind
    if any(ip in network for network in _DOCUMENTATION_V4 if ip.version == 4):
        return None  # no local service is there; this machine's registries are
    return None if ip.is_global else "not public"


def open_upstream(host: str, port: int) -> socket.socket:
    """A connection to `host`:`port` at a public address; a Refusal otherwise (403 for an
    address the relay does not reach, 502 for a host that cannot be resolved or reached)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise Refusal(502, f"cannot resolve {host}: {err}") from None
    refused = [(info, not_public(info[4][0])) for info in found]
    usable = [info for info, kind in refused if kind is None]
    if not usable:
        address, kind = refused[0][0][4][0], refused[0][1]
        raise Refusal(403, _local_refusal(host, address, kind or "local"))
    errors = []
    for family, kind, proto, _name, address in usable:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(address)
        except OSError as err:
            sock.close()
            errors.append(f"{address[0]}: {err}")
            continue
        # A public address of this machine's own interfaces loops back to it: the kernel then
        # picks that same address as the source. Closed before a byte is sent.
        if sock.getsockname()[0] == sock.getpeername()[0]:
            sock.close()
            raise Refusal(403, _local_refusal(host, address[0], "this machine"))
        return sock
    raise Refusal(502, f"cannot connect to {host}:{port} ({'; '.join(errors)})")


def _local_refusal(host: str, address: str, kind: str) -> str:
    where = host if host == address else f"{host} ({address})"
    return (
        f"the local cloud relays to public addresses only, not {where}: {kind}; "
        f"reach it directly (add the host to NO_PROXY)"
    )


def pump(client: socket.socket, upstream: socket.socket, idle_s: float = IDLE_TIMEOUT_S) -> None:
    """Copy bytes both ways until both sides have ended (each end's EOF is passed on as a
    half-close), one of them fails, or nothing moves for `idle_s`."""
    peer = {client: upstream, upstream: client}
    waiting: dict[socket.socket, bytearray] = {client: bytearray(), upstream: bytearray()}
    reading = {client: True, upstream: True}
    shut: set[socket.socket] = set()
    for sock in peer:
        sock.setblocking(False)
    with selectors.DefaultSelector() as selector:
        masks = {client: 0, upstream: 0}
        while True:
            for sock, other in peer.items():
                mask = 0
                if reading[sock] and len(waiting[other]) < _BUFFER_LIMIT:
                    mask |= selectors.EVENT_READ
                if waiting[sock]:
                    mask |= selectors.EVENT_WRITE
                if mask != masks[sock]:
                    if not masks[sock]:
                        selector.register(sock, mask)
                    elif not mask:
                        selector.unregister(sock)
                    else:
                        selector.modify(sock, mask)
                    masks[sock] = mask
            if not any(masks.values()):
                return  # both ends finished and everything was delivered
            events = selector.select(idle_s)
            if not events:
                return  # idle
            for key, mask in events:
                sock, other = key.fileobj, peer[key.fileobj]  # type: ignore[index]
                try:
                    if mask & selectors.EVENT_READ:
                        data = sock.recv(_CHUNK)  # type: ignore[union-attr]
                        if data:
                            waiting[other] += data
                        else:
                            reading[sock] = False
                    if mask & selectors.EVENT_WRITE:
                        sent = sock.send(waiting[sock])  # type: ignore[union-attr]
                        del waiting[sock][:sent]
                except BlockingIOError:
                    continue
                except OSError:
                    return  # a reset or a broken pipe ends the relay
            for sock, other in peer.items():
                # The end that stopped sending: its peer gets the EOF once its bytes are out.
                if not reading[other] and not waiting[sock] and sock not in shut:
                    shut.add(sock)
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)

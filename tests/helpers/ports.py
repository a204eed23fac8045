"""Free ports for the servers tests start, and the TCP sockets processes listen on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on at `address` once the probing socket is closed."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _inodes(groups: set[int]) -> set[str]:
    """Socket inodes open in every process of the process groups `groups`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if pgrp not in groups:
                continue
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    found.add(target[len("socket:[") : -1])
        except OSError:
            continue  # gone, or not ours to read
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def listening(groups: Iterable[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket (IPv4 and IPv6) that a process of the process
    groups `groups` listens on, from /proc: a server's worker processes (uvicorn's, a job's
    children) count, whichever of their pids the caller knows."""
    inodes, found = _inodes(set(groups)), []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and inode in inodes:
                address, port = local.rsplit(":", 1)
                found.append((_address(address), int(port, 16)))
    return found


def listening_ports(groups: Iterable[int]) -> set[int]:
    """The TCP ports on which a process of the process groups `groups` listens."""
    return {port for _, port in listening(groups)}

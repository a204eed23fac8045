"""Free ports on 127.0.0.1 for the servers tests start, and the ports processes listen on."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on at `address` once the probing socket is closed."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def listening_ports(pids: list[int]) -> set[int]:
    """The TCP ports (IPv4 and IPv6) on which any of `pids` listens, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # gone
        for fd in descriptors:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports

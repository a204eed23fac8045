"""What each host process of a local training job runs: the entry point's command line and
the environment (SageMaker's `SM_*` variables, the rendezvous, thread counts)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from training.hosts import HostProcess
from training.scriptmode import host_environment, user_args


def host_command(python: str, program: str, hyperparameters: Mapping[str, Any]) -> list[str]:
    """The entry point with the user's hyperparameters as arguments: a Python script, a shell
    script, or an executable."""
    args = user_args(hyperparameters)
    if program.endswith(".py"):
        return [python, program, *args]
    if program.endswith(".sh"):
        return ["/bin/sh", program, *args]
    return [f"./{program}", *args]


def host_environments(
    request: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    hosts: Sequence[HostProcess],
    *,
    num_gpus: int,
) -> dict[str, dict[str, str]]:
    """The environment of each host, by name: this process's (less SageMaker's and the
    rendezvous variables), the host's `SM_*`, then the request's `Environment`."""
    addresses = [h.address for h in hosts]
    port = _free_port()
    num_cpus = max(1, (os.cpu_count() or 1) // len(hosts))
    extra_env = {str(k): str(v) for k, v in request.get("Environment", {}).items()}
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SM_") and k not in ("MASTER_ADDR", "MASTER_PORT")
    }
    environments = {}
    for host in hosts:
        env = host_environment(
            root=host.root,
            request=request,
            hyperparameters=hyperparameters,
            hosts=addresses,
            current_host=host.address,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            master_port=port,
        )
        code = str(host.root / "code")
        environments[host.name] = (
            inherited
            | env
            | {
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (code, inherited.get("PYTHONPATH")) if p),
                "OMP_NUM_THREADS": str(num_cpus),
                "MKL_NUM_THREADS": str(num_cpus),
                # gloo listens on the loopback, not on the address of the machine's name.
                "GLOO_SOCKET_IFNAME": "lo",
            }
            | extra_env
        )
    return environments


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

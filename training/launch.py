"""What each host process of a local training job runs: the entry point's command line and
the environment (SageMaker's `SM_*` variables, the rendezvous, thread counts).

In v2 script mode that is this machine's Python running the entry point in `code/`. With a
container entrypoint (the SageMaker Python SDK v3), it is the request's `ContainerEntrypoint` +
`ContainerArguments` with `/opt/ml` mapped to the host's tree, run in that tree, with this
machine's Python first on `PATH` (the drivers run `python3`, the image's on SageMaker).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from training.hosts import HostProcess
from training.inputs import is_container_entrypoint, map_opt_ml
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


def host_commands(
    request: Mapping[str, Any],
    python: str,
    program: str,
    hyperparameters: Mapping[str, Any],
    hosts: Sequence[HostProcess],
) -> dict[str, tuple[list[str], Path]]:
    """Each host's command line and working directory, by name."""
    if not is_container_entrypoint(request):
        command = host_command(python, program, hyperparameters)
        return {host.name: (command, host.root / "code") for host in hosts}
    spec = request["AlgorithmSpecification"]
    argv = [*spec["ContainerEntrypoint"], *spec.get("ContainerArguments", [])]
    return {host.name: ([map_opt_ml(a, host.root) for a in argv], host.root) for host in hosts}


def host_environments(
    request: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    hosts: Sequence[HostProcess],
    *,
    num_gpus: int,
    python: str = sys.executable,
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
        if is_container_entrypoint(request):
            # The SDK's drivers run `python3` from PATH: this machine's, as the image's would be.
            path = environments[host.name].get("PATH", os.defpath)
            environments[host.name]["PATH"] = os.pathsep.join((str(Path(python).parent), path))
    return environments


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""The local cloud process: moto's server in-process, with the project's hooks and persistence.

    python -m localcloud serve --port P --state-dir DIR

One process serves every AWS API on 127.0.0.1:P (clients use http://localhost:P). It writes
`server.json` (pid, port) into the state dir once it answers, and removes it on a clean exit.
Only requests signed with keys the cloud issued, to its own host names, get in
(`localcloud.gateway.guard`). The same port is its user's HTTPS proxy (`localcloud.gateway.proxy`):
`*.amazonaws.com` served here, so clients that hard-code AWS's endpoints reach the cloud too,
other hosts relayed to their public addresses.
After a restart it serves at once (an endpoint recovering fetches its model through the cloud's
own S3, as its role), but answers everyone else 503 `ServiceUnavailable` until its jobs,
transforms and endpoints are recovered (`guard.Guard.recovering`), so no client races a
recovery (a DeleteEndpoint while the endpoint restarts). A start refused (a state dir others
can read) is one line on stderr and exit status 2.
SIGTERM / SIGINT: stop accepting requests, stop training jobs and serving processes, write a
final snapshot, exit. `--clock-speed N` runs the cloud's clock (`localcloud.shared.clock`) N
times faster: CloudWatch alarm evaluation and Application Auto Scaling act on it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from localcloud.dataplane.endpoints import Endpoints
from localcloud.dataplane.processing import ProcessingJobs
from localcloud.dataplane.training import TrainingJobs
from localcloud.dataplane.transform import TransformJobs
from localcloud.dataplane.tuning import TuningJobs
from localcloud.gateway import guard, organization, proxy
from localcloud.gateway.authority import Authority
from localcloud.gateway.connections import close_idle, keeping_alive, remembering
from localcloud.gateway.persisting import persisting
from localcloud.services.cloudwatch.alarms import AlarmEvaluator
from localcloud.shared import privacy, processes
from localcloud.shared.clock import Clock
from localcloud.shared.credentials import credentials
from localcloud.shared.persistence import StateStore
from localcloud.shared.privacy import private_state_dir
from smlocal.core.errors import UserError
from smlocal.core.files import write_atomically

log = logging.getLogger("localcloud")

REGION = "us-east-1"


class LocalCloud:
    """The server, its hooks, jobs, endpoints and state, in this process."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        cors_origins: tuple[str, ...] = (),
        clock_speed: float = 1.0,
    ) -> None:
        # The state dir holds every key the cloud issued: refused unless it is private, and
        # everything this process and its children create in it is private from the start.
        self.state_dir = private_state_dir(state_dir)
        privacy.private_umask()
        self.clock = Clock(clock_speed)
        self.host = host
        self.port = port
        self.cors_origins = cors_origins
        self.store = StateStore(self.state_dir)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._handler: type | None = None
        self.jobs: TrainingJobs
        self.endpoints: Endpoints
        self.alarms: AlarmEvaluator | None = None
        self.transforms: TransformJobs
        self.processing: ProcessingJobs
        self.tuning: TuningJobs

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        """Restore the state, bind the port, serve in a thread, bring endpoints back."""
        from moto.backends import get_backend
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from localcloud import patches
        from localcloud.services.runtime.invoke import DataPath

        # What a killed cloud of this state dir left running goes first; everything this one
        # starts inherits the mark that lets the next start (or `cloud stop`) find it.
        processes.end_leftovers(self.state_dir)
        os.environ[processes.STATE_DIR_ENV] = str(self.state_dir)
        dispatcher = remembering(DomainDispatcherApplication(create_backend_app))
        # InvokeEndpoint takes the data path once the guard checked it; the rest goes to moto.
        data_path = DataPath(persisting(dispatcher, self.store), dispatcher)
        front = guard.Guard(data_path, credentials(self.state_dir), self.cors_origins)
        # The same port is the HTTPS proxy (HTTPS_PROXY in `cloud env`): AWS's names served.
        # Connections stay open between requests (`connections`): boto3 reuses them.
        handler = proxy.tunnelling(keeping_alive(MotoRequestHandler), Authority(self.state_dir))
        self._handler = handler
        # Bind first: the port is known (port 0 picks one) before the hooks need the URL.
        # (werkzeug's server sets SO_REUSEADDR: a port a stopped cloud left in TIME_WAIT binds.)
        self._server = make_server(
            self.host, self.port, front, threaded=True, request_handler=handler
        )
        self.port = front.port = self._server.server_address[1]
        self.jobs = TrainingJobs(self.state_dir, self.endpoint_url, self.store)
        self.endpoints = Endpoints(self.state_dir, self.store, self.endpoint_url, self.clock)
        data_path.endpoints = self.endpoints
        batch = (self.state_dir, self.endpoint_url, self.store, self.clock)
        self.transforms = TransformJobs(*batch)
        self.processing = ProcessingJobs(*batch)
        self.tuning = TuningJobs(*batch)
        patches.install(
            jobs=self.jobs,
            endpoints=self.endpoints,
            clock=self.clock,
            transforms=self.transforms,
            processing=self.processing,
            tuning=self.tuning,
        )
        restored = self.store.restore()
        organization.ensure_restored()  # member accounts whose IAM predates their role
        # Serving starts before the data plane recovers: an endpoint fetches its model through
        # the cloud's own S3, as its role. Until it recovered, only the keys of the cloud's own
        # services get in; the cloud is ready (server.json) once it recovered.
        front.recovering = restored
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        if restored:
            try:
                sagemaker = get_backend("sagemaker")
                self.jobs.recover(sagemaker)
                self.transforms.recover(sagemaker)
                self.processing.recover(sagemaker)
                self.tuning.recover(sagemaker)
                self.endpoints.recover(sagemaker)
                self.store.flush()
            finally:
                front.recovering = False
        self.alarms = AlarmEvaluator(self.clock, self.store)
        self.alarms.start()

    def stop(self) -> None:
        """Stop serving, then everything that runs; the last snapshot is written."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            close_idle(self._handler)  # kept-alive connections waiting for a next request
        if self.alarms is not None:
            self.alarms.stop()
        self.tuning.stop_all()
        self.jobs.stop_all()
        self.transforms.stop_all()
        self.processing.stop_all()
        self.endpoints.stop_all()
        self.store.flush()

    def write_pid_file(self) -> Path:
        path = self.state_dir / processes.PID_FILE
        record = {
            "pid": os.getpid(),
            "port": self.port,
            "endpoint_url": self.endpoint_url,
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
            "clock_speed": self.clock.speed,
        }
        write_atomically(path, json.dumps(record).encode())
        return path


def serve(
    state_dir: Path, port: int, cors_origins: tuple[str, ...] = (), clock_speed: float = 1.0
) -> None:
    """Run the local cloud in this process until SIGTERM / SIGINT. A start refused (a state
    dir others can read) is one line on stderr and SystemExit(2), as the CLI says errors: the
    one place that says it (`python -m localcloud serve`, `cloud start --detach`, which relays
    the line, and `cloud start` in the foreground all come here)."""
    try:
        cloud = LocalCloud(state_dir, port, cors_origins=cors_origins, clock_speed=clock_speed)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        cloud.start()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    pid_file = cloud.write_pid_file()
    speed = f", clock {cloud.clock.speed:g}x" if cloud.clock.speed != 1 else ""
    print(
        f"local cloud serving on {cloud.endpoint_url} (state in {cloud.state_dir}{speed})",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cloud.stop()
        pid_file.unlink(missing_ok=True)
        print("local cloud stopped", flush=True)

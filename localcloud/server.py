"""The local cloud process: moto's server in-process, with the project's hooks and persistence.

    python -m localcloud serve --port P --state-dir DIR

One process serves every AWS API on 127.0.0.1:P (clients use http://localhost:P). It writes
`server.json` (pid, port) into the state dir once it answers, and removes it on a clean exit.
Only requests signed with keys the cloud issued, to its own host names, get in
(`localcloud.guard`). SIGTERM / SIGINT: stop accepting requests, stop training jobs and serving
processes, write a final snapshot, exit.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from localcloud import auth, guard
from localcloud.endpoints import Endpoints
from localcloud.jobs import TrainingJobs
from localcloud.persistence import StateStore, write_atomically

log = logging.getLogger("localcloud")

PID_FILE = "server.json"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
# Actions that only read, by the prefix of their name (S3 is REST: GET/HEAD read).
_READ_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Search",
    "Query",
    "Filter",
    "Validate",
    "Estimate",
    "Invoke",
    "BatchGet",
    "Lookup",
    "Test",
)


def _action(environ: dict[str, Any]) -> str | None:
    """The API action of a request, for the JSON and query protocols; None for REST calls."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        form = parse_qs(body.decode("utf-8", errors="replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def is_mutating(environ: dict[str, Any]) -> bool:
    """Whether a request may change state (and so must be on disk before it is answered)."""
    if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD", "OPTIONS"):
        return False
    action = _action(environ)
    if action is not None:
        return not action.startswith(_READ_PREFIXES)
    # REST calls: InvokeEndpoint(Async) only reads; S3 PUT/POST/DELETE write.
    return not environ.get("PATH_INFO", "").endswith(("/invocations", "/async-invocations"))


def persisting(app: Callable[..., Iterable[bytes]], store: StateStore) -> Callable[..., Any]:
    """WSGI middleware: a mutating request runs under the store's shared lock, and its response
    leaves only after a snapshot that covers it is on disk."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_mutating(environ):
            return app(environ, start_response)
        with store.mutating():
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return wsgi


class LocalCloud:
    """The server, its hooks, jobs, endpoints and state, in this process."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port
        self.cors_origins = cors_origins
        self.store = StateStore(self.state_dir)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.jobs: TrainingJobs
        self.endpoints: Endpoints

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        """Restore the state, bind the port, serve in a thread, bring endpoints back."""
        from moto.backends import get_backend
        from moto.moto_server import werkzeug_app
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from localcloud import hooks

        self.state_dir.mkdir(parents=True, exist_ok=True)
        # CORS is the guard's: moto's would allow every origin.
        werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]
        auth.install()
        front = guard.Guard(
            persisting(DomainDispatcherApplication(create_backend_app), self.store),
            auth.credentials(self.state_dir),
            self.cors_origins,
        )
        # Bind first: the port is known (port 0 picks one) before the hooks need the URL.
        self._server = make_server(
            self.host, self.port, front, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = front.port = self._server.server_address[1]
        self.jobs = TrainingJobs(self.state_dir, self.endpoint_url, self.store)
        self.endpoints = Endpoints(self.state_dir, self.store.flush)
        hooks.install(self)
        if self.store.restore():
            sagemaker = get_backend("sagemaker")
            self.jobs.recover(sagemaker)
            self.endpoints.recover(sagemaker)
            self.store.flush()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, then everything that runs; the last snapshot is written."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.jobs.stop_all()
        self.endpoints.stop_all()
        self.store.flush()

    def write_pid_file(self) -> Path:
        path = self.state_dir / PID_FILE
        record = {
            "pid": os.getpid(),
            "port": self.port,
            "endpoint_url": self.endpoint_url,
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
        }
        write_atomically(path, json.dumps(record).encode())
        return path


def serve(state_dir: Path, port: int, cors_origins: tuple[str, ...] = ()) -> None:
    """Run the local cloud in this process until SIGTERM / SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cloud = LocalCloud(state_dir, port, cors_origins=cors_origins)
    cloud.start()
    pid_file = cloud.write_pid_file()
    print(f"local cloud serving on {cloud.endpoint_url} (state in {cloud.state_dir})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cloud.stop()
        pid_file.unlink(missing_ok=True)
        print("local cloud stopped", flush=True)

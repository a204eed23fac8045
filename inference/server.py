"""The SageMaker serving contract as a plain ASGI app on uvicorn (uvloop, httptools).

    python -m inference.server --model-dir DIR [--host 127.0.0.1] [--port 8080] [--workers N]
                               [--serverless] [--timeout S] [--uds PATH]

- `GET /ping`: 200 once the model is loaded (it is loaded before the port opens; a model that
  cannot load ends the process with exit status 2 and one line saying why).
- `POST /invocations`: the container API. Errors are JSON `{"code", "type", "message"}` with the
  status the error carries (400 / 406 / 413 / 415 / 504).
- `POST /endpoints/{name}/invocations`: the runtime API, so boto3 `sagemaker-runtime`
  `invoke_endpoint` works against this server unchanged; errors have SageMaker's shapes
  (`ModelError` 424 with `OriginalStatusCode` / `OriginalMessage`, 413 over the payload limit).
- The model runs on one thread per worker process (torch uses the cores inside each call), off
  the event loop, so a slow request times out (504) while the server keeps answering.
- SIGTERM stops accepting connections, lets in-flight requests finish, then exits.
- Over TCP, a request whose Host header names neither this machine's loopback (localhost,
  *.localhost), an IP address nor `--host` gets 403: a DNS-rebinding web page cannot reach
  the model. `--uds PATH` serves on a Unix socket instead, created mode 0600 (only this user
  may connect), with no TCP port at all: the local cloud serves its endpoints so.
- Every input is bounded: the payload (6 MB, 4 MB serverless), what it decodes to
  (`SMLOCAL_MAX_BATCH_SIZE`, `SMLOCAL_MAX_DECODED_BYTES`: 413), the request head (16 KiB and 100
  header lines: 431), and the time a client may take to send a request (`--request-timeout`:
  408, then the connection is closed).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from inference import codecs
from inference.app import (
    DEFAULT_TIMEOUT_S,
    REALTIME_PAYLOAD_BYTES,
    SERVERLESS_PAYLOAD_BYTES,
    ServingApp,
    create_app,
)
from inference.errors import ModelLoadError
from inference.handlers import load, unpack
from smlocal.core import sockets

# How long a client may take to send one whole request (head and body): a half-sent request
# would otherwise hold its connection, and its buffered body, forever.
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_KEEP_ALIVE_S = 5.0  # uvicorn's own default
# The request line and headers: uvicorn's h11 default size (h11_max_incomplete_event_size) and
# Python's http.client count; httptools, which uvicorn picks when installed, has neither.
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
_LINGER_S = 2.0  # how long a refused client may go on sending before the connection closes
DEFAULT_PORT = 8080
# How long a worker may take to answer the supervisor's ping. uvicorn's 5 s default killed
# workers still importing torch on a loaded machine (the ping thread starts after the
# imports), and their replacements the same way, so `--workers N` never came up.
WORKER_PING_TIMEOUT_S = 120
_ENV_PREFIX = "SMLOCAL_SERVE_"


# --- the HTTP protocol: uvicorn's, with the limits it lacks ----------------------------------


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing and uvicorn answers through
    `send_400_response`, which sends 431 instead when this was the cause."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a request timeout and caps on the request head.

    uvicorn times out idle keep-alive connections only: a connection that sends half a request
    (or nothing) stays open forever, and httptools accepts any number and size of headers.
    """

    @property
    def request_timeout_s(self) -> float:
        # From the environment: uvicorn builds this class itself, in each worker process.
        return float(os.environ.get(_ENV_PREFIX + "REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT_S))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes = self._head_count = 0
        self._in_head, self._head_received = True, 0  # what arrived while no head was complete
        self._heads_done = 0
        self._head_refused: str | None = None
        self._discarding = False
        self._request_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_request_timer()  # a connection that never sends a byte is timed out too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        if self._request_timer is None:
            self._arm_request_timer()

    def data_received(self, data: bytes) -> None:
        # httptools buffers a header line until it ends, and calls on_header only then: a line
        # that never ends is caught by counting what arrives while the head is incomplete.
        if self._discarding:
            return
        in_head, heads = self._in_head, self._heads_done
        super().data_received(data)
        # Counted only when all of it is head: it began in one and no head ended within it.
        all_head = in_head and self._in_head and heads == self._heads_done
        if all_head and not (self._discarding or self.transport.is_closing()):
            self._head_received += len(data)
            if self._head_received > MAX_HEAD_BYTES:
                self._head_refused = f"request head exceeds {MAX_HEAD_BYTES} bytes"
                self.send_400_response(self._head_refused)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_received = False, 0
        self._heads_done += 1
        super().on_headers_complete()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url), lines=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value), lines=1)
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._cancel_request_timer()  # all of it arrived; the invocation timeout takes over
        self._in_head = True  # what comes next on this connection is the next request's head
        super().on_message_complete()

    def _count_head(self, size: int, lines: int) -> None:
        self._head_bytes += size
        self._head_count += lines
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_refused = f"request head exceeds {MAX_HEAD_BYTES} bytes"
        elif self._head_count > MAX_HEADERS:
            self._head_refused = f"request has more than {MAX_HEADERS} headers"
        if self._head_refused:
            raise _HeadTooLarge(self._head_refused)

    def send_400_response(self, msg: str) -> None:
        if self._head_refused is None:
            return super().send_400_response(msg)
        self._cancel_request_timer()
        self._close_with(431, self._head_refused, linger=True)

    def _arm_request_timer(self) -> None:
        self._request_timer = self.loop.call_later(self.request_timeout_s, self._request_expired)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_expired(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app answered early (a 413); the body never finished
            return
        self._close_with(408, f"request not received within {self.request_timeout_s:g} s")

    def _close_with(self, status: int, message: str, linger: bool = False) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            # The app, if it waits for the body, gets http.disconnect and answers nothing.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body = message.encode()
        self.transport.write(
            STATUS_LINE[status]
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )
        if linger and self.transport.can_write_eof():
            # A client refused mid-send is still writing: closing now would reset the
            # connection and lose the answer. Send it and our end, read and drop the rest.
            self._discarding = True
            self.transport.write_eof()
            self.loop.call_later(_LINGER_S, self.transport.close)
            return
        self.transport.close()


# --- process entry ----------------------------------------------------------------------------


def _set_torch_threads() -> None:
    """One intra-op thread per worker process unless the user chose (OMP_NUM_THREADS).

    Measured on 2 cores, one 28x28 image per request: a second torch thread made the forward
    pass 0.05 ms faster but cost the process 0.2 ms more CPU per request (its threads spin and
    compete with the event loop), so requests/s fell. Parallelism comes from `--workers`, as
    multi-model-server and TorchServe do it."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel call
        torch.set_num_interop_threads(1)


def app_from_env() -> ServingApp:
    """The app of one worker process when `--workers` > 1 (uvicorn calls this factory)."""
    _set_torch_threads()
    max_payload = int(os.environ[_ENV_PREFIX + "MAX_PAYLOAD"])
    return create_app(
        load(os.environ[_ENV_PREFIX + "MODEL_DIR"], limits=codecs.Limits.from_env(max_payload)),
        max_payload_bytes=max_payload,
        timeout_s=float(os.environ[_ENV_PREFIX + "TIMEOUT"]),
        served_host=os.environ.get(_ENV_PREFIX + "HOST"),
    )


def serve(
    model_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 1,
    serverless: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
    uds: Path | str | None = None,
) -> None:
    """Load the model (ModelLoadError if it cannot be), then serve until SIGTERM / Ctrl-C.

    `request_timeout_s` bounds the time a client may take to send one request; `keep_alive_s`
    how long an idle connection stays open between requests. With `uds`, serve on a Unix
    socket at that path (mode 0600, removed at exit) instead of `host`:`port`."""
    import uvicorn

    if workers < 1:
        raise ModelLoadError(f"--workers must be at least 1, got {workers}")
    if timeout_s <= 0:
        raise ModelLoadError(f"--timeout must be positive seconds, got {timeout_s:g}")
    if request_timeout_s <= 0:
        raise ModelLoadError(
            f"--request-timeout must be positive seconds, got {request_timeout_s:g}"
        )
    max_payload = SERVERLESS_PAYLOAD_BYTES if serverless else REALTIME_PAYLOAD_BYTES
    limits = codecs.Limits.from_env(max_payload)  # a bad value fails here, before the port
    _set_torch_threads()
    directory = unpack(model_dir)
    search_path = list(sys.path)
    # In the parent too: a broken model fails here, before the port opens.
    handlers = load(directory, limits=limits)
    os.environ[_ENV_PREFIX + "REQUEST_TIMEOUT"] = str(request_timeout_s)  # read by each worker
    options: dict[str, Any] = {
        # By import path, so that spawned workers build it too.
        "http": "inference.server:BoundedHttpToolsProtocol",
        "timeout_keep_alive": keep_alive_s,
        "log_level": "warning",
        "access_log": False,
        # In-flight requests finish on SIGTERM; none can take longer than the timeout.
        "timeout_graceful_shutdown": int(timeout_s) + 5,
    }
    if uds is None:
        options.update(host=host, port=port)
        served_host: str | None = host  # checked against each request's Host header
        where = f"http://{host}:{port}"
    else:
        try:
            listener = sockets.listen(Path(uds))
        except OSError as err:
            raise ModelLoadError(f"cannot listen on {uds}: {err}") from None
        made = os.stat(uds)
        atexit.register(_remove_socket, Path(uds), (made.st_dev, made.st_ino), listener)
        # uvicorn's own `uds` option makes the socket 0666; a descriptor keeps it as made.
        options["fd"] = listener.fileno()
        served_host, where = None, f"unix:{uds}"
    print(
        f"serving {handlers.program} on {where} ({workers} worker(s), "
        f"payload ≤ {max_payload} bytes, decoded ≤ {limits.max_decoded_bytes} bytes and "
        f"{limits.max_batch} items, timeout {timeout_s:g} s, request timeout "
        f"{request_timeout_s:g} s)",
        file=sys.stderr,
        flush=True,
    )
    # uvicorn drains, then re-raises SIGTERM; exit cleanly instead (status 0, atexit runs and
    # removes an extracted model.tar.gz).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if workers == 1:
        app = create_app(
            handlers, max_payload_bytes=max_payload, timeout_s=timeout_s, served_host=served_host
        )
        uvicorn.run(app, **options)
        return
    os.environ.update(
        {
            _ENV_PREFIX + "MODEL_DIR": str(directory),
            _ENV_PREFIX + "MAX_PAYLOAD": str(max_payload),
            _ENV_PREFIX + "TIMEOUT": str(timeout_s),
        }
    )
    if served_host is None:
        os.environ.pop(_ENV_PREFIX + "HOST", None)
    else:
        os.environ[_ENV_PREFIX + "HOST"] = served_host
    del handlers
    # Workers start with this process's sys.path, where load() left the script's directory.
    # When this package is found through an editable install (a finder after sys.path, i.e.
    # not run from the repository root), a `code/inference.py` there would shadow it and every
    # worker would die importing `inference.server`; each worker's own load() adds it back.
    sys.path[:] = search_path
    uvicorn.run(
        "inference.server:app_from_env",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_PING_TIMEOUT_S,
        **options,
    )


def _remove_socket(path: Path, made: tuple[int, int], listener: Any) -> None:
    """At exit: the socket file goes, if it is still the one this process made."""
    with contextlib.suppress(OSError):
        now = os.stat(path)
        if (now.st_dev, now.st_ino) == made:
            os.unlink(path)
    listener.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m inference.server`: exit 2 with one line when the model cannot be served."""
    parser = argparse.ArgumentParser(prog="python -m inference.server", description=__doc__)
    parser.add_argument("--model-dir", required=True, help="model directory or model.tar.gz")
    parser.add_argument("--host", default="127.0.0.1", help="[default: 127.0.0.1]")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="[default: 8080]")
    parser.add_argument("--workers", type=int, default=1, help="processes [default: 1]")
    parser.add_argument("--serverless", action="store_true", help="4 MB payload limit, not 6 MB")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="[default: 60]")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_REQUEST_TIMEOUT_S,
        help="seconds a client may take to send a request [default: 30]",
    )
    parser.add_argument(
        "--keep-alive",
        type=float,
        default=DEFAULT_KEEP_ALIVE_S,
        help="seconds an idle connection stays open [default: 5]",
    )
    parser.add_argument(
        "--uds",
        metavar="PATH",
        help="serve on a Unix socket at PATH (mode 0600), not on --host/--port",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(
            args.model_dir,
            host=args.host,
            port=args.port,
            workers=args.workers,
            serverless=args.serverless,
            timeout_s=args.timeout,
            request_timeout_s=args.request_timeout,
            keep_alive_s=args.keep_alive,
            uds=args.uds,
        )
    except ModelLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""Ending a job's phase at once when the job is stopped or runs out of time.

A phase (download, upload) runs on a worker thread the job's thread can walk away from; every
S3 call, and every chunk a transfer moves, checks first. File work runs in a helper process
that is killed instead (`training.filework`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Interrupted(Exception):
    """The job was stopped, or ran out of time, while a phase ran."""


class CheckedS3:
    """The job's S3 client: every call, and every chunk a transfer moves, first checks that the
    job may go on (raises `Interrupted`), so a stop does not wait for a download to end."""

    _TRANSFERS = ("download_file", "download_fileobj", "upload_file", "upload_fileobj")

    def __init__(self, client: Any, interrupted: threading.Event) -> None:
        self._client, self._interrupted = client, interrupted

    def _check(self, *_: Any) -> None:
        if self._interrupted.is_set():
            raise Interrupted

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._check()
            if name in self._TRANSFERS:
                given = kwargs.get("Callback")
                kwargs["Callback"] = lambda n: (self._check(), given and given(n))
            return attr(*args, **kwargs)

        return call


def run_bounded(
    phase: Callable[[], Any],
    *,
    interrupted: threading.Event,
    wake: threading.Event,
    grace: Callable[[], float],
    name: str,
) -> Any:
    """Run a phase on a worker thread and return its result, or raise `Interrupted` once
    `interrupted` is set: after the phase has ended, or after `grace()` seconds if it does not
    (a stalled connection), abandoning it. `grace` is read then: a stop may shorten it."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = phase()
        except BaseException as err:  # re-raised on the job's thread
            outcome["error"] = err
        finally:
            wake.set()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    while worker.is_alive() and not interrupted.is_set():
        wake.wait(0.5)
        wake.clear()
    if interrupted.is_set():
        worker.join(grace())
        raise Interrupted
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]

"""State that survives a restart: moto's backends pickled into one file under the state dir.

Every mutating request runs under the shared side of a lock; a snapshot takes the exclusive side,
so no request changes a backend while it is being pickled. Snapshots are written before the
request's response leaves (group commit: one snapshot covers every mutation finished before it),
so a crash loses nothing that was acknowledged. The file is replaced atomically (temp file,
fsync, rename, fsync of the directory): a crash while writing leaves the previous snapshot.
"""

from __future__ import annotations

import contextlib
import copyreg
import functools
import io
import logging
import pickle
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smlocal.core.files import write_atomically

# The services whose state is kept. Names as moto's `get_backend` knows them.
SERVICES = (
    "s3",
    "iam",
    "sts",
    "cloudformation",
    "sagemaker",
    "sagemaker-runtime",
    "logs",
    "cloudwatch",
    "applicationautoscaling",
    "ssm",
    "ecr",
)
STATE_FILE = "state.pickle"
log = logging.getLogger("localcloud.persistence")
_FORMAT = 1


def _lock_reducer(lock_type: type) -> Any:
    # Locks inside backends (ECR, S3 keys) cannot be pickled; a fresh unlocked one is right on
    # restore, since no request is in flight then.
    return lambda _lock: (lock_type, ())


for _factory in (threading.Lock, threading.RLock):
    copyreg.pickle(type(_factory()), _lock_reducer(_factory))


def _picklable_factory(factory: Any) -> Any:
    """A picklable stand-in for a defaultdict factory defined as a lambda (SSM's tags are
    `defaultdict(lambda: defaultdict(dict))`), judged by what the factory makes."""
    sample = factory()
    if isinstance(sample, defaultdict) and sample.default_factory in (dict, list, set):
        return functools.partial(defaultdict, sample.default_factory)
    if type(sample) in (dict, list, set, int, float, str):
        return type(sample)
    raise pickle.PicklingError(f"cannot pickle a defaultdict whose factory makes {sample!r}")


def _new_defaultdict(cls: type, factory: Any) -> defaultdict:
    obj = defaultdict.__new__(cls)
    defaultdict.__init__(obj, factory)
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # defaultdict's own reduce loses lambda factories and calls subclasses' __init__ with
        # the factory alone (SSM's ParameterDict needs more arguments).
        if not isinstance(obj, defaultdict):
            return NotImplemented
        factory = obj.default_factory
        if "<lambda>" in getattr(factory, "__qualname__", ""):
            factory = _picklable_factory(factory)
        elif type(obj) is defaultdict:
            return NotImplemented
        state = getattr(obj, "__dict__", None) or None
        return _new_defaultdict, (type(obj), factory), state, None, iter(obj.items())


def dumps(value: Any) -> bytes:
    """pickle.dumps that also handles moto's lambda-factory defaultdicts."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


class SharedExclusiveLock:
    """Many holders of the shared side at once, or one of the exclusive side.

    The shared side is re-entrant per thread and never waits for a *waiting* writer, only for
    one that holds the lock: a request that waits on a background thread (CloudFormation waiting
    for an endpoint) cannot deadlock with a snapshot that waits for that request.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._local = threading.local()

    def depth(self) -> int:
        return getattr(self._local, "depth", 0)

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        depth = self.depth()
        if depth == 0:
            with self._cond:
                while self._writer:
                    self._cond.wait()
                self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    if self._readers == 0:
                        self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _backend_dicts() -> dict[str, Any]:
    from moto.backends import get_backend

    return {service: get_backend(service) for service in SERVICES}  # type: ignore[call-overload]


def _capture() -> dict[str, Any]:
    """{service: {account: {region: backend}}}: plain dicts, so that restoring goes into the
    BackendDict objects that moto's modules already imported by name."""
    return {
        service: {account: dict(regions) for account, regions in backend_dict.items()}
        for service, backend_dict in _backend_dicts().items()
    }


class StateStore:
    """The snapshot file of one state dir, and the lock that keeps snapshots consistent."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.lock = SharedExclusiveLock()
        self._counter = threading.Lock()
        self._finished = 0  # mutations finished so far
        self._saved = 0  # mutations covered by the file on disk
        self.snapshots_written = 0

    @contextlib.contextmanager
    def mutating(self) -> Iterator[None]:
        """Run a change to the backends; on leaving, the change is on disk (unless nested)."""
        nested = self.lock.depth() > 0
        with self.lock.shared():
            yield
        if nested:
            return  # the outermost mutation snapshots once for all
        with self._counter:
            self._finished += 1
            mine = self._finished
        try:
            self.flush(mine)
        except Exception:
            # The change stands but is not on disk; keep serving and say so loudly.
            log.exception("could not write the local cloud's state to %s", self.path)

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """A background change (log lines): kept out of snapshots in progress, written with the
        next snapshot rather than forcing one."""
        with self.lock.shared():
            yield

    def flush(self, upto: int | None = None) -> None:
        """Write a snapshot unless one covering mutation number `upto` is already on disk."""
        with self.lock.exclusive():
            if upto is not None and self._saved >= upto:
                return
            with self._counter:
                target = self._finished
            self._write()
            self._saved = max(self._saved, target)

    def _write(self) -> None:
        payload = {"format": _FORMAT, "backends": _capture()}
        write_atomically(self.path, dumps(payload))
        self.snapshots_written += 1

    def restore(self) -> bool:
        """Load the snapshot (if any) into moto's live BackendDicts; False when there is none."""
        if not self.path.is_file():
            return False
        payload = pickle.loads(self.path.read_bytes())  # our own file, written by _write
        if payload.get("format") != _FORMAT:
            raise RuntimeError(f"{self.path}: unknown state format {payload.get('format')!r}")
        live = _backend_dicts()
        for service, accounts in payload["backends"].items():
            backend_dict = live[service]
            for account, regions in accounts.items():
                account_backends = backend_dict[account]  # creates the account entry
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)
        return True

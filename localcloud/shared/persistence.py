"""State that survives a restart: moto's backends, snapshotted into the state dir.

Layout of the state dir:
- `objects/<sha256>`: one file per distinct S3 object body (parts of multipart uploads too),
  written and fsynced by the request that stores it, before that request is answered.
- `state.db` (SQLite, WAL, synchronous=FULL): the metadata. Table `base` holds one pickle of
  every backend with each bucket's key store left empty; table `records` holds one pickle per
  (key store, key name): that key's version list, its bodies as references to `objects/`.
  A snapshot rewrites `base` and only the records whose versions changed since the last one,
  in one transaction: a crash leaves the previous snapshot or the new one, whole.

Every mutating request runs under the shared side of a lock; a snapshot takes the exclusive side,
so no request changes a backend while it is being pickled. Snapshots are committed before the
request's response leaves (group commit: one snapshot covers every mutation finished before it),
so a crash loses nothing that was acknowledged. A body file that no committed snapshot refers
to any more is deleted after the commit that dropped it, and at startup.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import pickle
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from localcloud.shared import pickling
from localcloud.shared.bodies import BodyStore, StoredBody
from localcloud.shared.locks import SharedExclusiveLock
from localcloud.shared.pickling import SnapshotPickler, SnapshotUnpickler, key_store_id

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
STATE_FILE = "state.db"
LEGACY_FILE = "state.pickle"  # format 1: one pickle, bodies inside
OBJECTS_DIR = "objects"
log = logging.getLogger("localcloud.shared.persistence")
_FORMAT = 2


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


# The body store of the local cloud in this process; None leaves moto's FakeKey as it is.
_bodies: BodyStore | None = None
# What changed since the last snapshot: names of keys changed in place (ACL, legal hold,
# retention, restore status: attribute assignments), and key names stored or removed, by key store.
# Snapshots re-pickle those records only, instead of comparing every key of every bucket.
_touched: set[Any] = set()
_changed: dict[str, set[str]] = {}


def install_key_hooks() -> None:
    """Make moto's FakeKey keep its body in a body file, and report changes to keys and to
    bucket key stores."""
    from moto.s3.models import FakeKey
    from moto.s3.utils import _VersionedKeyStore

    if getattr(FakeKey, "_localcloud_hooked", False):
        return
    moto_setter = FakeKey.value.fset

    def set_value(key: Any, new_value: bytes | str) -> None:
        if _bodies is None:
            moto_setter(key, new_value)
            return
        if isinstance(new_value, str):
            new_value = new_value.encode("utf-8")
        body = _bodies.put(new_value)
        old = key.__dict__.get("_value_buffer")
        key._value_buffer = body
        key.contentsize = len(new_value)
        if old is not None and not isinstance(old, StoredBody):
            old.close()  # the spooled buffer moto's __init__ made, still empty

    def set_attribute(key: Any, name: str, value: Any) -> None:
        object.__setattr__(key, name, value)
        _touched.add(key.__dict__.get("name"))

    def noting(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(store: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            _changed.setdefault(key_store_id(store), set()).add(key)
            return method(store, key, *args, **kwargs)

        return wrapper

    FakeKey.value = FakeKey.value.setter(set_value)  # type: ignore[method-assign]
    FakeKey.__setattr__ = set_attribute  # type: ignore[method-assign,assignment]
    for method in ("__setitem__", "__delitem__", "setlist", "pop"):
        setattr(_VersionedKeyStore, method, noting(getattr(_VersionedKeyStore, method)))
    FakeKey._localcloud_hooked = True  # type: ignore[attr-defined]


# One record: a key's version list, and the body files it refers to.
_Record = tuple[tuple[Any, ...], frozenset[str]]


class StateStore:
    """The snapshots of one state dir, and the lock that keeps them consistent."""

    def __init__(self, state_dir: Path) -> None:
        global _bodies
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_FILE
        self.lock = SharedExclusiveLock()
        self._counter = threading.Lock()
        self._finished = 0  # mutations finished so far
        self._saved = 0  # mutations covered by the snapshot on disk
        self.snapshots_written = 0
        self.bodies = BodyStore(self.state_dir / OBJECTS_DIR)
        _bodies = self.bodies
        self._db: sqlite3.Connection | None = None
        # What the committed snapshot holds: records by key store and name, body references.
        self._records: dict[str, dict[str, _Record]] = {}
        self._base_digests: frozenset[str] = frozenset()
        self._refs: Counter[str] = Counter()
        self._legacy: Path | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created 0600 before SQLite opens it: its -wal and -shm files take its mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
            db.execute("CREATE TABLE IF NOT EXISTS base (id INTEGER PRIMARY KEY, pickle BLOB)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS records"
                " (store TEXT, name TEXT, pickle BLOB, PRIMARY KEY (store, name))"
            )
            self._db = db
        return self._db

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
        global _touched, _changed
        touched, _touched = _touched, set()
        changed, _changed = _changed, {}
        fresh = self.bodies.take_fresh()
        try:
            self._commit(touched, changed, fresh)
        except BaseException:
            # Not on disk: the next snapshot must still see these changes.
            _touched |= touched
            for store_id, names in changed.items():
                _changed.setdefault(store_id, set()).update(names)
            self.bodies.give_back(fresh)
            raise

    def _commit(self, touched: set[Any], changed: dict[str, set[str]], fresh: set[str]) -> None:
        upserts: list[tuple[str, str, bytes]] = []
        deleted: list[tuple[str, str]] = []
        records: dict[str, dict[str, _Record]] = {}

        def pickle_record(store_id: str, name: str, versions: list[Any]) -> _Record:
            buf = io.BytesIO()
            pickler = SnapshotPickler(buf, self.bodies)
            pickler.dump(versions)
            upserts.append((store_id, name, buf.getvalue()))
            return (tuple(versions), frozenset(pickler.digests))

        def on_key_store(store_id: str, store: Any) -> None:
            previous = self._records.get(store_id)
            if previous is None:  # a new bucket: every key
                current = records[store_id] = {}
                for name, versions in list(dict.items(store)):
                    current[name] = pickle_record(store_id, name, versions)
                return
            current = records[store_id] = dict(previous)
            for name in changed.get(store_id, set()) | (touched & previous.keys()):
                versions = dict.get(store, name)
                if versions is None:
                    if current.pop(name, None) is not None:
                        deleted.append((store_id, name))
                else:
                    current[name] = pickle_record(store_id, name, versions)

        buf = io.BytesIO()
        pickler = SnapshotPickler(buf, self.bodies, on_key_store)
        pickler.dump({"format": _FORMAT, "backends": _capture()})
        gone_stores = self._records.keys() - records.keys()
        deleted.extend((sid, name) for sid in gone_stores for name in self._records[sid])

        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO base (id, pickle) VALUES (1, ?)", (buf.getvalue(),))
            db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", upserts)
            db.executemany("DELETE FROM records WHERE store = ? AND name = ?", deleted)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.snapshots_written += 1

        # Reference counts of the body files, now that the snapshot is committed.
        dropped: set[str] = set(fresh)
        refs = self._refs
        for store_id, name in deleted:
            dropped |= self._records[store_id][name][1]
            refs.subtract(self._records[store_id][name][1])
        for store_id, name, _blob in upserts:
            old = self._records.get(store_id, {}).get(name)
            if old is not None:
                dropped |= old[1]
                refs.subtract(old[1])
            refs.update(records[store_id][name][1])
        refs.subtract(self._base_digests)
        dropped |= self._base_digests
        self._base_digests = frozenset(pickler.digests)
        refs.update(self._base_digests)
        self._records = records
        garbage = {digest for digest in dropped if refs[digest] <= 0}
        for digest in garbage:
            del refs[digest]
        self.bodies.remove(garbage)
        if self._legacy is not None:
            self._legacy.unlink(missing_ok=True)  # its content is in state.db now
            self._legacy = None

    def restore(self) -> bool:
        """Load the snapshot (if any) into moto's live BackendDicts; False when there is none.
        Body files that it does not refer to are deleted."""
        legacy = self.state_dir / LEGACY_FILE
        if self.path.is_file():
            backends = self._read_db()
        elif legacy.is_file():
            # Format 1 (bodies inside): unpickling a FakeKey sets its value, which writes its
            # body file; the first snapshot writes state.db and then removes this file.
            payload = pickle.loads(legacy.read_bytes())  # our own file, written by _write
            if payload.get("format") != 1:
                raise RuntimeError(f"{legacy}: unknown state format {payload.get('format')!r}")
            backends = payload["backends"]
            self._legacy = legacy
        else:
            self._collect_garbage()
            return False
        live = _backend_dicts()
        for service, accounts in backends.items():
            backend_dict = live[service]
            for account, regions in accounts.items():
                account_backends = backend_dict[account]  # creates the account entry
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)
        self._collect_garbage()
        return True

    def _read_db(self) -> dict[str, Any]:
        db = self._connect()
        row = db.execute("SELECT pickle FROM base WHERE id = 1").fetchone()
        if row is None:
            return {}
        pickling.restoring.clear()
        try:
            unpickler = SnapshotUnpickler(io.BytesIO(row[0]), self.bodies)
            payload = unpickler.load()
            if payload.get("format") != _FORMAT:
                raise RuntimeError(f"{self.path}: unknown state format {payload.get('format')!r}")
            self._base_digests = frozenset(unpickler.digests)
            self._refs.update(self._base_digests)
            stores = dict(pickling.restoring)
        finally:
            pickling.restoring.clear()
        orphans = []
        for store_id, name, blob in db.execute("SELECT store, name, pickle FROM records"):
            store = stores.get(store_id)
            if store is None:  # its bucket is gone; the next snapshot would not see it
                orphans.append((store_id, name))
                continue
            unpickler = SnapshotUnpickler(io.BytesIO(blob), self.bodies)
            versions = unpickler.load()
            dict.__setitem__(store, name, versions)
            digests = frozenset(unpickler.digests)
            self._records.setdefault(store_id, {})[name] = (tuple(versions), digests)
            self._refs.update(digests)
        for store_id in stores:
            self._records.setdefault(store_id, {})
        if orphans:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM records WHERE store = ? AND name = ?", orphans)
            db.execute("COMMIT")
        return payload["backends"]

    def _collect_garbage(self) -> None:
        """At startup: remove interrupted writes and bodies no snapshot refers to (written by
        requests that a crash kept from being acknowledged)."""
        self.bodies.remove_temporaries()
        if self._legacy is not None:
            return  # the bodies just written are referenced once the first snapshot is in
        self.bodies.take_fresh()
        self.bodies.remove({d for d in self.bodies.on_disk() if self._refs[d] <= 0})

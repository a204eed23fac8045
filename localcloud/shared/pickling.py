"""Pickling moto's backends: locks and defaultdict factories made picklable, and snapshot
picklers that keep S3 bodies out of the pickle (a reference to the body file instead) and can
write bucket key stores as empty shells filled later from their records."""

from __future__ import annotations

import copyreg
import functools
import io
import pickle
import threading
import uuid
from collections import defaultdict
from typing import Any

from localcloud.shared.bodies import BodyStore, StoredBody


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


def _new_object(cls: type) -> Any:
    return cls.__new__(cls)


def _set_key_state(key: Any, state: dict[str, Any]) -> Any:
    # Not moto's __setstate__: that one expects the body inside the state.
    key.__dict__.update(state)
    key.__dict__["lock"] = threading.Lock()
    return key


# Key stores being rebuilt by `restore`, by their id: `records` fill them after `base` is read.
restoring: dict[str, Any] = {}


def _empty_key_store(cls: type, store_id: str) -> Any:
    store = cls()
    store.__dict__["_localcloud_id"] = store_id
    restoring[store_id] = store
    return store


def key_store_id(store: Any) -> str:
    store_id = store.__dict__.get("_localcloud_id")
    if store_id is None:
        store_id = store.__dict__["_localcloud_id"] = uuid.uuid4().hex
    return store_id


class SnapshotPickler(_Pickler):
    """Pickles FakeKeys without their bodies (a persistent reference to the body file instead)
    and, when given a `on_key_store`, bucket key stores as empty shells with an id."""

    def __init__(self, file: Any, bodies: BodyStore, on_key_store: Any = None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        from moto.s3.models import FakeKey
        from moto.s3.utils import _VersionedKeyStore

        self._key_type = FakeKey
        self._store_type = _VersionedKeyStore
        self._bodies = bodies
        self._on_key_store = on_key_store
        self.digests: set[str] = set()

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, StoredBody):
            if obj.closed or obj.digest is None:
                return ("body", None, 0)  # a disposed key: moto reads it as empty too
            self.digests.add(obj.digest)
            return ("body", obj.digest, obj.size)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, self._key_type):
            state = dict(obj.__dict__)
            state.pop("lock", None)
            buffer = state.get("_value_buffer")
            if not isinstance(buffer, StoredBody):
                state["_value_buffer"] = self._spill(obj, buffer)
            return _new_object, (type(obj),), state, None, None, _set_key_state
        if self._on_key_store is not None and isinstance(obj, self._store_type):
            store_id = key_store_id(obj)
            self._on_key_store(store_id, obj)
            return _empty_key_store, (type(obj), store_id)
        return super().reducer_override(obj)

    def _spill(self, key: Any, buffer: Any) -> StoredBody:
        """The body of a key made before the hooks were installed, moved to a body file."""
        try:
            with key.lock:
                buffer.seek(0)
                data = buffer.read()
        except ValueError:  # closed: the key was disposed of
            return StoredBody(None, None, 0)
        body = self._bodies.put(data)
        key.__dict__["_value_buffer"] = body
        buffer.close()
        return body


class SnapshotUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, bodies: BodyStore) -> None:
        super().__init__(file)
        self._bodies = bodies
        self.digests: set[str] = set()

    def persistent_load(self, pid: Any) -> Any:
        kind, digest, size = pid
        if kind != "body":
            raise pickle.UnpicklingError(f"unknown persistent reference {kind!r}")
        if digest is not None:
            self.digests.add(digest)
        return self._bodies.opened(digest, size)

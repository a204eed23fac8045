"""Snapshot pickling of moto's state: what the standard pickler refuses comes back usable."""

from __future__ import annotations

import pickle
import threading
from collections import defaultdict

from localcloud.shared.pickling import dumps


def test_dumps_handles_lambda_factories_and_locks() -> None:
    tags = defaultdict(lambda: defaultdict(dict))
    tags["arn"]["key"] = "value"
    restored = pickle.loads(dumps({"tags": tags, "lock": threading.RLock()}))
    assert restored["tags"]["arn"] == {"key": "value"}
    assert restored["tags"]["other"]["x"] == {}  # still a defaultdict of defaultdicts
    assert restored["lock"].acquire(blocking=False)

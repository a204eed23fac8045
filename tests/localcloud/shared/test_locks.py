"""The shared/exclusive lock requests and snapshots take."""

from __future__ import annotations

import threading

from localcloud.shared.locks import SharedExclusiveLock


def test_exclusive_waits_for_shared_holders_and_shared_is_reentrant() -> None:
    lock = SharedExclusiveLock()
    order: list[str] = []
    with lock.shared():
        writer = threading.Thread(target=lambda: lock.exclusive().__enter__() or order.append("w"))
        writer.start()
        writer.join(0.2)
        assert writer.is_alive()  # blocked by the shared holder
        with lock.shared():  # re-entrant while a writer waits: no deadlock
            order.append("r")
    writer.join(5)
    assert order == ["r", "w"]

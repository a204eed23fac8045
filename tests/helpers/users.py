"""Acting as another local user (root only): what the kernel lets `nobody` do."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from smlocal.core import sockets

NOBODY = 65534
IS_ROOT = os.geteuid() == 0


def connect_as(uid: int, path: Path) -> str:
    """Connect to the Unix socket at `path` as `uid` (in a forked child, which only makes system
    calls): "connected", or the error's name (EACCES: the kernel refused)."""
    pid = os.fork()
    if pid == 0:  # the child: no Python-level cleanup, only its exit status goes back
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sockets.connect(path, 2).close()
        except OSError as err:
            code = err.errno or 255
        except BaseException:
            code = 254
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return "connected" if code == 0 else errno.errorcode.get(code, f"exit {code}")

"""One local host per store: an exclusive lock held for the life of the process.

Two hosts on one SQLite file would both read its change feed from the same checkpoint
and summarise the same readings twice. The lock is `fcntl.flock` on `<store>.lock`,
which the kernel releases when the process ends, however it ends (kill -9 included).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class StoreInUse(RuntimeError):
    """Another local host holds the store."""


class BadStorePath(ValueError):
    """The store path cannot hold a store (a directory, or under a file, or not writable)."""


def lock_store(path: Path) -> IO[str]:
    """Take the store's lock, creating its folder; keep the returned file open while running."""
    if path.is_dir():
        raise BadStorePath(f"{path} is a directory; give a file path, e.g. {path / 'pipeline.db'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held until exit
    except OSError as error:
        raise BadStorePath(f"{path}: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreInUse(
            f"another local host (pid {holder}) is running on {path}; stop it first, "
            "or give this one its own store with --store PATH"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle

"""How the functions of this process have been doing lately, for `/api/health`.

The summariser's bindings (and the local host, for the feed it reads on the function's
behalf) record each outcome here; the health route reads it in the same process. In
Azure each instance has its own record: it reports what this instance saw.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionRecord:
    """One function's recent outcomes."""

    consecutive_failures: int = 0
    last_failure: str | None = None  # the kind of error (its class name), never its text


class Invocations:
    """Outcomes per function name; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, FunctionRecord] = {}

    def succeeded(self, function: str) -> None:
        with self._lock:
            self._records[function] = FunctionRecord()

    def failed(self, function: str, error: BaseException) -> None:
        with self._lock:
            previous = self._records.get(function, FunctionRecord())
            self._records[function] = FunctionRecord(previous.consecutive_failures + 1, type(error).__name__)

    def records(self) -> dict[str, FunctionRecord]:
        with self._lock:
            return dict(self._records)


# This process's record: written by the function bindings, read by the health route.
INVOCATIONS = Invocations()

"""The garbage collector's young collections, spaced out while a batch is summarised.

The summariser keeps every sensor's state in memory (up to 100,000 sensors, a dozen
objects each) and renews a hundred or so of them per batch. With Python's default
thresholds a batch of 100 readings sets off several young collections, and every tenth
or so of those moves its survivors a generation up, until a full collection walks the
whole state: 60-70 ms at 10,000 sensors, about 13 µs per reading on average. None of the
state forms reference cycles (it is freed by reference counting alone), so walking it
finds nothing.

Inside `spaced_collections` the first generation's threshold is raised to
`BATCH_THRESHOLD` (a batch of 100 readings allocates a few thousand objects, so none of
its own collections run); on leaving, the defaults come back and one young collection runs
at once, so the batch's cyclic garbage (if any) is freed then, as before, and nothing is
left for the next allocation elsewhere to pay. Fewer young collections also mean fewer
promotions, hence fewer full collections. The setting is process-wide: batches that
overlap in threads share one raise (a count under a lock), and the young threshold the
process had before is the one restored. Only the raise is undone: thresholds someone else
sets while a batch runs are theirs and stay, and a disabled collector is not touched.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Objects allocated (net) before a young collection while a batch runs: a batch of 100
# readings allocates a few thousand; a far larger one still collects every 50,000.
BATCH_THRESHOLD = 50_000

_lock = threading.Lock()
_inside = 0
# The young generation's threshold before the raise, and the one raised to; None: not raised.
_saved = 0
_raised: int | None = None


@contextmanager
def spaced_collections() -> Iterator[None]:
    """Run the block with young collections at most every `BATCH_THRESHOLD` allocations."""
    global _inside, _saved, _raised
    with _lock:
        if _inside == 0:
            young, *older = gc.get_threshold()
            _raised = None
            if gc.isenabled() and young > 0:
                _saved, _raised = young, max(BATCH_THRESHOLD, young)
                gc.set_threshold(_raised, *older)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            young, *older = gc.get_threshold()
            # A young threshold other than ours was set by someone else meanwhile: it stays.
            restore = _inside == 0 and _raised is not None and young == _raised
            if restore:
                gc.set_threshold(_saved, *older)  # older generations as they are now
        if restore and gc.isenabled():
            gc.collect(0)

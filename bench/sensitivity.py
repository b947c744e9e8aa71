"""How much the RU ratios rest on the query pricing rule.

`bench.cost_model` prices a query page by what it returns: a fixed 2.5 RU plus 1 RU per KB
returned (`QUERY_RU_PER_KB_RETURNED`). Microsoft documents that a query's charge grows with
the documents it loads *and* the data it returns, with no formula; a projection shrinks
what is returned but not what is loaded. The other extreme rule prices a query by what it
loads: 2.5 RU plus 1 RU per KB of the whole documents it reads. This module reprices every
recorded query under that rule, so the bench can print each ratio both ways.

What each query loads, per item: the original's summariser query loads whole readings (it
projects two fields); ours' page query loads whole pointer documents (window included), and
ours' chart query whole summaries; the original's page and chart queries return whole
documents already (`SELECT *`), so they load what they return.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench import cost_model
from bench.cost_model import Operation
from bench.system import Recording


def _mean_size(operations: Sequence[Operation], kinds: set[str]) -> float:
    chosen = [o for o in operations if o.kind in kinds]
    return sum(o.size_bytes for o in chosen) / len(chosen) if chosen else 0.0


def loaded_item_bytes(recording: Recording) -> dict[str, float]:
    """Per phase, the stored size of one item its queries load (0: what they return)."""
    writes = recording.operations.get("summariser", [])
    reading = _mean_size(recording.operations.get("generator", []), {"insert", "replace"})
    if recording.side == "original":
        return {"summariser": reading}
    return {
        "poll": _mean_size(writes, {"replace"}),  # the pointer documents
        "chart": _mean_size(writes, {"insert"}),  # the summaries
    }


def query_ru_if_loaded(operation: Operation, item_bytes: float) -> float:
    """A query page priced by the whole documents it loads (never less than it returns)."""
    loaded = max(operation.size_bytes, operation.items * item_bytes)
    return cost_model.QUERY_RU_PER_PARTITION + cost_model.QUERY_RU_PER_KB_RETURNED * loaded / 1024


def phase_ru(recording: Recording, phase: str, loaded: bool) -> float:
    """RU of one phase as recorded, with its queries priced by what they return or load."""
    sizes = loaded_item_bytes(recording) if loaded else {}
    total = 0.0
    for operation in recording.operations.get(phase, []):
        if operation.kind == "query" and phase in sizes:
            total += query_ru_if_loaded(operation, sizes[phase])
        else:
            total += operation.request_units
    return total

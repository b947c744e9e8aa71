"""Which content coding to answer with, from the request's Accept-Encoding (RFC 9110 §12.5.3).

The header is parsed, never searched for a substring: `gzip;q=0` refuses gzip, `*`
stands for every coding not listed, and `identity` (no coding) is acceptable unless it
is refused by name or by `*;q=0` without its own entry. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

IDENTITY = "identity"
ALIASES = {"x-gzip": "gzip"}  # RFC 9110 §8.4.1.3: a recipient treats x-gzip as gzip
MAX_ENTRIES = 64  # a longer header is an attack or a bug; the rest is ignored


def _qvalue(text: str) -> float | None:
    """The weight of `q=<text>`: 0 to 1 with at most three decimals, else None (malformed)."""
    text = text.strip()
    whole, _, decimals = text.partition(".")
    if whole not in ("0", "1") or len(decimals) > 3 or not (decimals.isdigit() or decimals == ""):
        return None
    value = float(text)
    return value if value <= 1 else None


def parse_accept_encoding(header: str) -> dict[str, float]:
    """`{coding: weight}` of an Accept-Encoding value, codings lower-cased, aliases resolved.

    An entry without `q` weighs 1; an entry with a malformed `q` is ignored (never read as
    a refusal or as consent). A coding listed twice keeps its first weight.
    """
    weights: dict[str, float] = {}
    for entry in header.split(",")[:MAX_ENTRIES]:
        coding, *parameters = (part.strip() for part in entry.split(";"))
        coding = ALIASES.get(coding.lower(), coding.lower())
        if not coding:
            continue
        weight: float | None = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                weight = _qvalue(value)
        if weight is not None:
            weights.setdefault(coding, weight)
    return weights


def weight_of(coding: str, weights: Mapping[str, float]) -> float:
    """How much the client wants `coding`: its own entry, else `*`'s, else 0 (identity: see below)."""
    if coding in weights:
        return weights[coding]
    if coding == IDENTITY:
        # Acceptable unless refused: by name, or by `*;q=0` without an entry of its own.
        # Below any coding the client listed: it asked for those.
        return 0.0 if weights.get("*") == 0 else 0.0005
    return weights.get("*", 0.0)


def choose_coding(header: str | None, offered: Sequence[str] = ("gzip",)) -> str:
    """The coding to answer with: the offered one the client weighs highest, else `identity`.

    No header: `identity` (RFC 9110 would allow any coding, but a client that says nothing,
    such as a plain `curl`, would get bytes it cannot read). On a tie the offered coding
    wins over `identity` (it is smaller). When everything is refused, `identity` still:
    a body the client did not want beats a 406 it cannot act on.
    """
    if header is None:
        return IDENTITY
    weights = parse_accept_encoding(header)
    best, best_weight = IDENTITY, weight_of(IDENTITY, weights)
    for coding in offered:  # in the server's order of preference
        weight = weight_of(coding, weights)
        if weight > best_weight or (weight > 0 and weight == best_weight and best == IDENTITY):
            best, best_weight = coding, weight
    return best

"""Static assets with ETags, and gzip for text answers when the client accepts it.

Compressed copies are kept under a digest of the body they were made from, so a copy can
only ever be handed out for the very same bytes, whatever route, cursor, ids or options
produced them. Every negotiated answer, 304s included, says `Vary: Accept-Encoding`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from fastapi import Request, Response

from visualiser.content_coding import choose_coding

MIN_COMPRESSED_BYTES = 1024  # below this gzip saves less than its own headers
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

VARY = {"Vary": "Accept-Encoding"}

_gzipped: LRUCache[bytes, bytes] = LRUCache(maxsize=64)
_lock = threading.Lock()


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def static_asset(path: Path) -> Asset | None:
    """A file we serve, read once per process (they only change with a deployment)."""
    if not path.is_file() or path.suffix not in MEDIA_TYPES:
        return None
    body = path.read_bytes()
    return Asset(body, MEDIA_TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def compressed(
    request: Request, body: bytes, media_type: str, headers: dict[str, str], key: str | None = None
) -> Response:
    """`body`, gzipped when the client accepts gzip; with a `key`, the gzipped copy is kept.

    `key` only marks a body worth keeping (one many viewers ask for): the copy is found
    again by the body's own digest, never by the key, so no key can hand out another body.
    """
    headers = dict(headers, **VARY)
    coding = choose_coding(request.headers.get("accept-encoding"))
    if len(body) < MIN_COMPRESSED_BYTES or coding != "gzip":
        return Response(body, media_type=media_type, headers=headers)
    digest = hashlib.blake2b(body, digest_size=16).digest() if key is not None else None
    packed = None
    if digest is not None:
        with _lock:
            packed = _gzipped.get(digest)
    if packed is None:
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        if digest is not None:
            with _lock:
                _gzipped[digest] = packed
    return Response(packed, media_type=media_type, headers=dict(headers, **{"Content-Encoding": "gzip"}))


def json_answer(request: Request, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """`payload` as JSON (as FastAPI's JSONResponse encodes it), gzipped when the client accepts it."""
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return compressed(request, body, "application/json", headers or {})


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match names this ETag, or is `*`: any current representation (RFC 9110 §13.1.2)."""
    sent = request.headers.get("if-none-match", "")
    if sent.strip() == "*":
        return True
    # Weak comparison (§8.8.3.2): W/"x" and "x" match; only whole entity-tags of the list count.
    return etag.removeprefix("W/") in {tag.strip().removeprefix("W/") for tag in sent.split(",")}


def not_modified(headers: dict[str, str], media_type: str) -> Response:
    """A 304 for a negotiated route: it varies with Accept-Encoding as its 200 does.

    It names the 200's `media_type`: without one the Functions worker's converter (in Azure
    and in the local host) gives every answer `text/plain`, and a cache that takes the 304's
    headers into its stored answer (RFC 9111 §4.3.4) would then hold JSON as text.
    """
    return Response(status_code=304, media_type=media_type, headers=dict(headers, **VARY))

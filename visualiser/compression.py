"""Static assets with ETags, and gzip for text answers when the browser accepts it."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cachetools import LRUCache
from fastapi import Request, Response

MIN_COMPRESSED_BYTES = 1024  # below this gzip saves less than its own headers
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

_gzipped: LRUCache[str, bytes] = LRUCache(maxsize=64)
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
    """`body`, gzipped when the client accepts it; `key` names a body worth keeping compressed."""
    headers = dict(headers, Vary="Accept-Encoding")
    if len(body) < MIN_COMPRESSED_BYTES or "gzip" not in request.headers.get("accept-encoding", ""):
        return Response(body, media_type=media_type, headers=headers)
    packed = None
    if key is not None:
        with _lock:
            packed = _gzipped.get(key)
    if packed is None:
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        if key is not None:
            with _lock:
                _gzipped[key] = packed
    return Response(packed, media_type=media_type, headers=dict(headers, **{"Content-Encoding": "gzip"}))

"""pybuf: zero-copy, safe views of memory that somebody else owns.

An :class:`Owner` stands for one piece of foreign memory (a C library's
buffer, a ctypes or cffi allocation, Go memory). Its :class:`Buffer` objects
export that memory to NumPy, memoryview, DLPack and any buffer-protocol
consumer. Every view holds its buffer, every buffer holds its owner, and the
owner's release runs exactly once, after the last view of any kind is gone.

Importing pybuf starts no thread and loads no Go: the Go core is loaded at the
first operation that needs it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from . import _convert
from ._pybuf import (
    Buffer,
    ForkError,
    Owner,
    adopt,
    alloc,
    from_buffer,
    load_core,
    run_pending,
    trace,
    wrap,
)
from ._pybuf import _live_json, _set_hooks

__all__ = [
    "Buffer",
    "ForkError",
    "Owner",
    "OwnerInfo",
    "adopt",
    "alloc",
    "from_buffer",
    "live",
    "load_core",
    "run_pending",
    "trace",
    "wrap",
]

__version__ = "0.1.0"

_set_hooks(_convert._hooks(), os.path.dirname(os.path.abspath(__file__)) + os.sep)


@dataclass(frozen=True)
class OwnerInfo:
    """One owner whose release has not run yet, as :func:`live` sees it."""

    name: str | None
    closed: bool
    buffers: int
    exports: int
    nbytes: int
    created_at: str | None
    holders: tuple[tuple[str, str | None], ...] = ()


def live() -> list[OwnerInfo]:
    """Every owner not yet released (closed ones included), oldest first.

    ``created_at`` and ``holders`` are filled while :func:`trace` is on.
    """
    return [
        OwnerInfo(
            name=r["name"] or None,
            closed=r["closed"],
            buffers=r["buffers"],
            exports=r["exports"],
            nbytes=r["nbytes"],
            created_at=r["created_at"],
            holders=tuple((h["kind"], h["site"]) for h in r["holders"]),
        )
        for r in json.loads(_live_json())
    ]

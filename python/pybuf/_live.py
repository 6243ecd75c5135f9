"""pybuf.live(): the owners of this interpreter whose release has not run."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ._pybuf import _live_json


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
    #: this owner's id in this listing, and the id of the owner it is a child
    #: of (``Owner(parent=)``), None for a root: the tree of owners
    id: int = 0
    parent: int | None = None


def live() -> list[OwnerInfo]:
    """Every owner of the calling interpreter not yet released (closed ones
    included), oldest first.

    ``created_at`` and ``holders`` are filled while :func:`trace` is on (a
    switch of the whole process).
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
            id=r["id"],
            parent=r["parent"],
        )
        for r in json.loads(_live_json())
    ]

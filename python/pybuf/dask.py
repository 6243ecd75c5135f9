"""pybuf with Dask: dask.array from Buffers, and worker-made segments that
end with their cluster (docs/DISTRIBUTED.md).

Importing this module imports Dask; ``import pybuf`` does not import it.

- :func:`from_buffers` builds a dask.array whose chunks are given Buffers,
  one chunk each, carried inside the tasks: a ``pybuf.shm`` Buffer as its name
  (about 135 bytes), any other Buffer as its bytes.
- :func:`clean_worker_segments` gives the segments that tasks create with
  ``shm.create(size)`` (no ``name``) names of the cluster's own and unlinks
  them when their worker closes, or, for a worker that died, when its nanny
  closes. A segment made with an explicit ``name=`` is the user's: never
  unlinked (the opt-out, for results meant to outlive the cluster).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any, Sequence

from distributed.diagnostics.plugin import NannyPlugin, WorkerPlugin

from . import shm
from ._pybuf import Buffer
from ._shm_host import SHM_DIR

__all__ = ["clean_worker_segments", "from_buffers", "unlink_prefixed"]


def _block(buf: Buffer) -> Any:
    import dask.array as da

    # inline_array: the Buffer travels in the chunk's task, not as a key of
    # its own that a worker would hold and hand to others.
    return da.from_array(buf, chunks=buf.shape, inline_array=True)


def from_buffers(blocks: Buffer | Sequence[Any]) -> Any:
    """A dask.array made of Buffers, one chunk each, arranged as ``numpy.block``
    arranges arrays (a nested list, innermost lists along the last axis).

    Typical use: regions of one or more segments, e.g.
    ``from_buffers([seg.buffer(i * n, (rows, cols), "<f8") for i in ...])``.
    A task that computes a chunk maps its segment and reads the shared pages.
    """
    import dask.array as da

    def convert(item: Any) -> Any:
        if isinstance(item, Buffer):
            return _block(item)
        if isinstance(item, (list, tuple)):
            return [convert(x) for x in item]
        raise TypeError(f"blocks: expected Buffers or nested lists of Buffers, not {type(item).__name__}")

    if isinstance(blocks, Buffer):
        return _block(blocks)
    return da.block(convert(blocks))


# ---------------------------------------------------------------- worker-made segments

# Worker address -> the name prefix of segments its tasks create (set up by
# _WorkerSegments; several in one process with LocalCluster(processes=False)).
_prefixes: dict[str, str] = {}


def _prefix(scope: str, nanny_or_worker: str) -> str:
    # The nanny's address where there is one: a worker it restarts after a
    # crash gets the same prefix, so the nanny finds what the dead one made.
    place = hashlib.sha1(nanny_or_worker.encode()).hexdigest()[:8]
    return f"pybuf_dask_{scope}_{place}_"


def _name_in_task() -> str | None:
    """A fresh prefixed name when a task of a tracked worker creates a segment."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return None
    prefix = _prefixes.get(worker.address)
    return None if prefix is None else prefix + secrets.token_hex(8)


def unlink_prefixed(prefix: str) -> list[str]:
    """Unlinks every segment whose name starts with ``prefix``; returns the names."""
    try:
        names = [n for n in os.listdir(SHM_DIR) if n.startswith(prefix)]
    except OSError:
        return []
    for name in names:
        shm.unlink(name)
    return names


class _WorkerSegments(WorkerPlugin):
    name = "pybuf-worker-segments"
    idempotent = True  # registered once per cluster

    def __init__(self, scope: str):
        self.scope = scope

    def setup(self, worker: Any) -> None:
        _prefixes[worker.address] = _prefix(self.scope, worker.nanny or worker.address)
        shm._default_name = _name_in_task

    def teardown(self, worker: Any) -> None:
        prefix = _prefixes.pop(worker.address, None)
        if prefix is not None:
            unlink_prefixed(prefix)


class _NannySegments(NannyPlugin):
    name = "pybuf-nanny-segments"
    idempotent = True

    def __init__(self, scope: str):
        self.scope = scope

    def teardown(self, nanny: Any) -> None:
        unlink_prefixed(_prefix(self.scope, nanny.address))


def clean_worker_segments(client: Any) -> str:
    """Ties the segments that tasks create without a name to the cluster.

    From now on, ``shm.create(size)`` in a task on any of ``client``'s
    workers (present and future) names the segment
    ``pybuf_dask_<cluster>_<worker>_<random>``; it is unlinked when that
    worker closes, and, where workers have nannies, when the nanny closes
    (a worker that was killed leaves its segments to its nanny). Mappings
    stay valid after the unlink, as always. ``shm.create(size, name=...)``
    opts out: a named segment is never unlinked by this.

    Returns the cluster's part of the names (``pybuf_dask_<cluster>_``), the
    same for every call on one cluster (registering again changes nothing).
    """
    scope = hashlib.sha1(client.scheduler_info()["id"].encode()).hexdigest()[:8]
    client.register_plugin(_NannySegments(scope))
    client.register_plugin(_WorkerSegments(scope))
    return f"pybuf_dask_{scope}_"

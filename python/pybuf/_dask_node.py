"""A by-name shared-memory object while Dask's distributed decodes it: what
the scheduler holds instead of a mapping, and what a worker gets when it
cannot attach.

Dask's distributed pickles ``submit`` arguments with plain pickle, and the
scheduler unpickles whole task graphs only to pickle each task again for a
worker. Were a ``pybuf.shm`` Buffer mapped there, the scheduler would hold
every submitted segment for as long as it keeps the task or the message (its
message logs keep the last ``distributed.admin.low-level-log-length``
messages), long after the user closed and unlinked it. And a worker that
cannot attach (another host, a name already unlinked) would raise while
decoding the task: distributed closes the connection on that, and a worker
that loses its scheduler shuts down.

So where unpickling happens decides what it gives:

- in the scheduler (inside ``Scheduler.update_graph``): a :class:`ByName`,
  nothing mapped; pickled again for the worker, it is the same by-name pickle.
  It is plain data, not a graph node: the scheduler builds graphs from what
  it unpickles (``da.from_array(buf)`` makes ``{key: buf}``), and a graph node
  there would be taken for a task of another key;
- in any other message (a worker decoding a task, a client a result): the
  object, mapped at once as outside Dask; if that fails, a node holding the
  error, which raises it when used: as a task's argument Dask's ``Task``
  calls it, so the task fails with it; anywhere else, an attribute,
  ``np.asarray`` or a call raises it;
- outside a message: the object, mapped at once, errors raised.

The place is read from the Python stack (the frames of distributed's own
functions), so nothing of Dask is patched; should Dask rename them, unpickling
simply maps at once, as it did before.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, Callable

from dask._task_spec import GraphNode

# distributed's functions whose frames say which kind of decoding is under way.
_SCHEDULER_GRAPH = ("distributed.scheduler", "update_graph")
_MESSAGE = ("distributed.protocol.core", "_decode_default")
_MAX_DEPTH = 64


def _decoding(frame: FrameType | None) -> tuple[tuple[str, str] | None, FrameType | None]:
    for _ in range(_MAX_DEPTH):
        if frame is None:
            break
        where = (frame.f_globals.get("__name__", ""), frame.f_code.co_name)
        if where == _SCHEDULER_GRAPH or where == _MESSAGE:
            return where, frame
        frame = frame.f_back
    return None, None


def _scheduler_in_process(frame: FrameType) -> bool:
    """A scheduler on ``inproc://`` (LocalCluster(processes=False)) hands the
    objects it unpickled to its workers, in this process, without pickling
    them again: there the object must be the mapped one."""
    scheduler = frame.f_locals.get("self")
    return str(getattr(scheduler, "address", "")).startswith("inproc://")


def unpickle(map_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``map_fn(*args)``, or a node standing for it while distributed decodes a message."""
    where, frame = _decoding(sys._getframe(1))
    if where == _SCHEDULER_GRAPH and frame is not None and not _scheduler_in_process(frame):
        return ByName(map_fn, args)
    if where is None:
        return map_fn(*args)
    return map_or_failed_node(map_fn, args)


def map_or_failed_node(map_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``map_fn(*args)``, or a node that raises its error when used.

    An exception while distributed decodes a message closes the connection
    (a worker that loses its scheduler connection shuts down), so it must
    surface later: in the task that uses the object.
    """
    try:
        return map_fn(*args)
    except Exception as error:
        return SharedMemoryNode(map_fn, args, error)


def _pickled_form(map_fn: Callable[..., Any]) -> Callable[..., Any]:
    from . import shm

    pickled: dict[Any, Callable[..., Any]] = {
        shm._map_buffer: shm._rebuild_buffer,
        shm._map_segment: shm._attach_pickled,
    }
    return pickled[map_fn]


class ByName:
    """A ``pybuf.shm`` Buffer or Segment in the scheduler: its by-name pickle, unmapped."""

    __slots__ = ("map_fn", "args")

    def __init__(self, map_fn: Callable[..., Any], args: tuple[Any, ...]):
        self.map_fn = map_fn
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (_pickled_form(self.map_fn), self.args)

    def __dask_tokenize__(self) -> Any:
        return ("pybuf-shm", self.args)

    def __repr__(self) -> str:
        return f"<pybuf.shm object by name {self.args[0]!r}, mapped by the worker>"


class SharedMemoryNode(GraphNode):
    """A ``pybuf.shm`` Buffer or Segment that a Dask task maps when it runs."""

    map_fn: Callable[..., Any]
    args: tuple[Any, ...]
    error: BaseException | None

    __slots__ = ("map_fn", "args", "error")

    def __init__(self, map_fn: Callable[..., Any], args: tuple[Any, ...], error: BaseException | None = None):
        self.key = ("pybuf-shm", args[0], id(self))
        self._dependencies = frozenset()
        self.map_fn = map_fn
        self.args = args
        self.error = error

    def __call__(self, values: Any = ()) -> Any:
        if self.error is not None:
            raise self.error
        return self.map_fn(*self.args)

    def __getattr__(self, attr: str) -> Any:
        # A failed node that reached user code (data a scheduler forwarded by
        # name to a process with another /dev/shm) names its error on use.
        # Dunder probes (hasattr(x, "__dask_graph__") and the like) stay AttributeErrors.
        error = object.__getattribute__(self, "error")
        if error is not None and not attr.startswith("__"):
            raise error
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        import numpy as np

        return np.asarray(self(), dtype=dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_pickled_form(self.map_fn), self.args)

    def __dask_tokenize__(self) -> Any:
        return ("pybuf-shm", self.args)

    def copy(self) -> SharedMemoryNode:
        return SharedMemoryNode(self.map_fn, self.args, self.error)

    def __repr__(self) -> str:
        state = f", failed: {self.error}" if self.error is not None else ""
        return f"<pybuf.shm object by name {self.args[0]!r}, mapped when the task runs{state}>"

"""POSIX shared memory as pybuf owners.

A :class:`Segment` is an :class:`pybuf.Owner` for one mapping of a named
segment (``/dev/shm/<name>``, the objects ``shm_open(3)`` and
``multiprocessing.shared_memory`` use). Its buffers are NumPy-ready views of
the segment, and the usual lifetime rules hold: ``close()`` hands out nothing
new and unmaps after the last view is gone, so no view ever reads unmapped
memory.

Two things are kept apart on purpose: the *mapping* (this process's, ended by
close) and the *name* (shared by all processes, removed by ``unlink()``, which
only the code that decides the segment's life should call). No resource
tracker is involved, so nothing is unlinked behind anybody's back.

Names and formats that arrive in a pickle or a Dask header are data, not
trust: they go through the same checks as any name (see :func:`attach`), a
segment of another user is never attached from them, and their formats are
bounded (pybuf/layout CheckStreamFormat) so NumPy reads them in bounded time.

Pickling sends names, not bytes: a Segment travels as its name and a Buffer of
one as (name, offset, layout), and the receiver attaches. That is what lets a
``multiprocessing`` worker started with ``spawn`` or ``forkserver`` work on the
same memory without a copy. The pickle also carries a token of the sender's
/dev/shm (pybuf._shm_host): unpickling it where /dev/shm is another one (another
host or container) raises SegmentNotFoundError saying so. Inside Dask's
distributed the scheduler's unpickling maps nothing, and a worker that cannot
attach fails the task, not itself (pybuf._dask_node).

Importing this module loads no Go; mapping and unlinking do (the core maps,
the C extension unmaps at release, so releases also run where Go cannot).
"""

from __future__ import annotations

import operator
import sys
import threading
from typing import Any

from . import _pybuf
from ._shm_host import check_same_host, host_token

__all__ = ["Segment", "SegmentNotFoundError", "attach", "create", "unlink"]

SegmentNotFoundError = _pybuf.SegmentNotFoundError

_SIZE_LIMIT = 1 << 64  # the C ABI passes sizes as uint64_t

# A name for create(name=None) from the caller's context, or None for a fresh
# pybuf_<hex> one: pybuf.dask.clean_worker_segments sets it in Dask workers.
_default_name: Any = None


class Segment(_pybuf.Owner):
    """One mapping of a shared-memory segment; make it with :func:`create` or :func:`attach`."""

    __slots__ = ("_segname", "_size", "_address", "_readonly", "_unlinked", "_unlink_lock")

    _segname: str
    _size: int
    _address: int
    _readonly: bool
    _unlinked: bool
    _unlink_lock: threading.Lock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use pybuf.shm.create() or pybuf.shm.attach() to make a Segment")

    @property
    def name(self) -> str:
        """The segment's name, without a leading '/' (what :func:`attach` takes)."""
        return self._segname

    @property
    def size(self) -> int:
        """The segment's size in bytes, as mapped."""
        return self._size

    @property
    def readonly(self) -> bool:
        """True when mapped read-only: every buffer of it is read-only."""
        return self._readonly

    def buffer(  # type: ignore[override]
        self,
        offset: int,
        shape: Any,
        dtype: Any = "B",
        *,
        strides: Any = None,
        readonly: bool | None = None,
    ) -> _pybuf.Buffer:
        """A typed view ``offset`` bytes into the segment; it must lie inside it.

        ``readonly=None`` follows the segment (writable unless attached read-only).
        """
        if readonly is not None and not readonly and self._readonly:
            raise BufferError(f"readonly=False: segment {self._segname!r} is attached read-only")
        # The bounds and layout rules are the core's region rules: a view of
        # the whole segment, cut down by region(), then dropped.
        whole = _pybuf.Owner.buffer(self, self._address, self._size, "B", readonly=self._readonly)
        return whole.region(offset, shape, dtype, strides=strides, readonly=readonly)

    def unlink(self) -> None:
        """Remove the segment's name; every mapping, here and elsewhere, stays valid.

        Idempotent. Only the first call unlinks: a later one must not remove a
        new segment that somebody else has since created under the same name.
        """
        # Threads may call it at once (free-threaded CPython has no GIL to order them).
        with self._unlink_lock:
            if not self._unlinked:
                _pybuf._shm_unlink(self._segname)
                self._unlinked = True

    def _check_sendable(self) -> None:
        if self.closed:
            raise BufferError(f"segment {self._segname!r} is closed: it cannot be sent to another process")
        if self._unlinked:
            raise ValueError(f"segment {self._segname!r} was unlinked: no other process can attach to it")

    def __reduce__(self) -> tuple[Any, ...]:
        self._check_sendable()
        return (_attach_pickled, (self._segname, self._readonly, host_token()))

    def _reduce_buffer(self, buf: _pybuf.Buffer, protocol: int) -> tuple[Any, ...]:
        """Pickles a Buffer of this segment as (name, offset, layout); see pybuf._pickle."""
        self._check_sendable()
        offset = buf.address - self._address
        return (
            _rebuild_buffer,
            (self._segname, offset, buf.shape, buf.format, buf.strides, buf.readonly, host_token()),
        )

    def __repr__(self) -> str:
        state = "released" if self.released else "closed" if self.closed else "open"
        return (
            f"<pybuf.shm.Segment {self._segname!r} {self._size} bytes{' read-only' if self._readonly else ''}, "
            f"{state}, {self.buffers} buffer(s), {self.exports} export(s)>"
        )


def _open(name: str | None, size: int, mode: int, create: bool, readonly: bool, allow_foreign: bool = False) -> Segment:
    seg = Segment.__new__(Segment)
    seg._segname, seg._address, seg._size = _pybuf._shm_open(seg, name, size, mode, create, readonly, allow_foreign)
    seg._readonly = readonly
    seg._unlinked = False
    seg._unlink_lock = threading.Lock()
    return seg


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None


def create(size: int, *, name: str | None = None, mode: int = 0o600) -> Segment:
    """A new, zero-filled segment of ``size`` bytes, mapped read-write.

    ``name=None`` picks a fresh ``pybuf_<hex>`` name; an existing name is an
    error (ValueError), never reused. ``mode`` holds permission bits, less the
    umask. The pages are reserved now, so a segment larger than the room left in
    /dev/shm fails here with ValueError instead of killing the process (SIGBUS)
    when it is first written. Call :meth:`Segment.unlink` when no other process
    needs to attach any more. In a Dask task, after
    ``pybuf.dask.clean_worker_segments(client)``, ``name=None`` picks a name
    that the cluster unlinks when the worker or its nanny closes.
    """
    size = _check_int(size, "size")
    mode = _check_int(mode, "mode")
    if name is not None:
        _check_name(name)
        if not name:  # the core would read "" as "pick one": say what was meant
            raise ValueError('name "" is empty: pass name=None for a fresh name')
    elif _default_name is not None:
        name = _default_name()
    if size < 0:
        raise ValueError(f"size must be at least 1 byte, not {size}")
    if size >= _SIZE_LIMIT:
        raise OverflowError(f"size {size} is too large")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode {mode:#o} has bits other than permissions (0o777)")
    return _open(name, size, mode, True, False)


def attach(name: str, *, readonly: bool = False, allow_foreign: bool = False) -> Segment:
    """Map an existing segment, whole; ``readonly=True`` maps it read-only.

    A missing name raises SegmentNotFoundError, a FileNotFoundError (as
    SharedMemory raises) that is also a ValueError. A name that is not a
    regular file (a FIFO, a symbolic link) raises ValueError at once. A
    segment owned by another user raises ValueError naming its uid unless
    ``allow_foreign=True``: its owner can truncate it at any time, and every
    process reading a view of it then dies of SIGBUS (docs/SHARED_MEMORY.md).
    """
    _check_name(name)
    return _open(name, 0, 0, False, bool(readonly), bool(allow_foreign))


def unlink(name: str) -> None:
    """Remove a segment's name (no error when it does not exist)."""
    _check_name(name)
    _pybuf._shm_unlink(name)


def _attach_pickled(name: str, readonly: bool, host: str | None = None) -> Any:
    """Unpickles a Segment (in a Dask task: see _unpickle)."""
    return _unpickle(_map_segment, (name, readonly, host))


def _map_segment(name: str, readonly: bool, host: str | None = None) -> Segment:
    check_same_host(name, host)
    # Never allow_foreign: a stream cannot vouch for another user's segment.
    return attach(name, readonly=readonly)


def _rebuild_buffer(*args: Any) -> Any:
    """Unpickles a Buffer of a segment (in a Dask task: see _unpickle); takes
    _map_buffer's arguments."""
    return _unpickle(_map_buffer, args)


def _map_buffer(
    name: str,
    offset: int,
    shape: tuple[int, ...],
    fmt: str,
    strides: tuple[int, ...],
    readonly: bool,
    host: str | None = None,
) -> _pybuf.Buffer:
    check_same_host(name, host)
    _pybuf._check_stream_format(fmt)  # before mapping: a stream's format is bounded
    # The Segment is not kept: the Buffer holds it, and the mapping goes away
    # with the last view, as for any owner that becomes garbage.
    return attach(name, readonly=readonly).buffer(offset, shape, fmt, strides=strides, readonly=readonly)


def _unpickle(map_fn: Any, args: tuple[Any, ...]) -> Any:
    """``map_fn(*args)``; while Dask's distributed decodes a message, maybe a
    graph node that maps when the task runs (pybuf._dask_node says when)."""
    if "distributed" not in sys.modules:
        return map_fn(*args)
    from . import _dask_node

    return _dask_node.unpickle(map_fn, args)

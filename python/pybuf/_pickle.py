"""Pickling and copying Buffers.

By value for every protocol: the unpickled object is an alloc-backed Buffer
with the same layout and content. With protocol 5 and a buffer_callback the
bytes travel out of band, and the unpickled Buffer looks straight into the
buffer the unpickler was given (zero-copy). An owner may pickle its buffers
its own way (a shared-memory segment pickles them as name, offset, layout) by
defining ``_reduce_buffer(buf, protocol)``.

One exception: a small Buffer that Dask's distributed pickles (a ``submit``
argument) travels in band, copied into the pickle, so that the messages
distributed keeps after sending them hold no export of it (see
pybuf._distributed.pickled_in_band).
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

from . import _pybuf


def _contiguous_bytes(buf: Any) -> Any:
    view = memoryview(buf)
    if view.c_contiguous:
        return view
    return view.tobytes(order="C")


def rebuild(data: Any, shape: tuple[int, ...], fmt: str, readonly: bool) -> Any:
    """Inverse of reduce(): copies pickled bytes, adopts out-of-band ones.

    ``fmt`` comes from the stream: it is bounded before anything is made of it.
    """
    _pybuf._check_stream_format(fmt)
    if isinstance(data, (bytes, bytearray)):
        out = _pybuf.alloc(shape, fmt)
        if out.nbytes:
            memoryview(out).cast("B")[:] = memoryview(data).cast("B")
        if readonly:
            out = out.region(0, shape, readonly=True)
        return out
    # An out-of-band buffer may be read-only although the pickled Buffer was
    # writable (Ray's object store, a memoryview of bytes): the result
    # is then read-only, as NumPy does, instead of a failed unpickling.
    follow = True if readonly else None
    whole = _pybuf.from_buffer(data, readonly=follow)
    return whole.region(0, shape, fmt, readonly=follow)


def reduce(args: tuple[Any, int]) -> tuple[Any, ...]:
    buf, protocol = args
    custom = getattr(buf.owner, "_reduce_buffer", None)
    if custom is not None:
        return custom(buf, protocol)  # type: ignore[no-any-return]
    data = _contiguous_bytes(buf)
    if protocol >= 5 and not _dask_keeps_small_messages(buf):
        data = pickle.PickleBuffer(data)
    else:
        data = bytes(data)
    return (rebuild, (data, buf.shape, buf.format, buf.readonly))


def _dask_keeps_small_messages(buf: Any) -> bool:
    if "distributed.protocol.pickle" not in sys.modules:
        return False
    from ._distributed import pickled_in_band

    return pickled_in_band(buf)


def copy(buf: Any) -> Any:
    """copy.copy / copy.deepcopy: like NumPy, a new owner with a copy of the bytes."""
    out = _pybuf.alloc(buf.shape, buf.format)
    if out.nbytes:
        memoryview(out).cast("B")[:] = memoryview(_contiguous_bytes(buf)).cast("B")
    return out

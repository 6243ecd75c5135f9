"""pybuf objects in Dask's distributed: serializers and the /dev/shm handshake.

Loaded by pybuf._after_import once distributed's modules are imported, never
by ``import pybuf``.

- Every process tells its peers, in distributed's connection handshake, which
  /dev/shm it has (pybuf._shm_host.host_token). A serializer sees the
  recipient's handshake, so it knows whether the recipient can attach.
- A ``pybuf.shm`` Buffer, and a NumPy array viewing one, goes by name (a few
  hundred bytes, no frame) to a recipient with the same /dev/shm, and by value
  (one zero-copy frame of its bytes) to any other, or to a peer without pybuf.
- Any other Buffer goes by value: one frame, no copy on the sending side.
- A worker that spills such a key to disk writes the same by-name header
  (its bytes already live outside the worker, in /dev/shm), and loading it
  back maps the same segment: writes through it still reach the shared pages.
  A name that no longer exists (unlinked) is spilled as bytes: the mapping is
  then the only thing holding the data.

These serializers cover what distributed serializes with its ``dask``
family: ``scatter``, task results, data moving between workers, spilling.
``submit`` arguments are pickled (pybuf.shm and pybuf._dask_node handle those).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import _pybuf, _shm_host
from ._pickle import _contiguous_bytes
from ._pybuf import Buffer

# The key of pybuf's entry in distributed's handshake.
HANDSHAKE_KEY = "pybuf-shm-host"


def announce_shm_host() -> None:
    """Adds this process's /dev/shm token to every handshake it sends."""
    from distributed.comm.core import Comm

    original = Comm.handshake_info
    if getattr(original, "_pybuf_shm_host", False):
        return

    def handshake_info(self: Any) -> dict[str, Any]:
        info: dict[str, Any] = original(self)
        info[HANDSHAKE_KEY] = _shm_host.host_token()
        return info

    handshake_info._pybuf_shm_host = True  # type: ignore[attr-defined]
    Comm.handshake_info = handshake_info  # type: ignore[method-assign]


# distributed's spill file (distributed.spill.Slow.__setitem__) serializes
# with no context; a comm always passes one.
_SPILL = ("distributed.spill", "__setitem__")
_MAX_DEPTH = 24  # frames between distributed's function and pybuf's (cloudpickle adds a few)

# distributed's batched connections keep every sent message smaller than this
# (distributed.batched.BatchedSend: ``if nbytes < 1e6``) in their log, which
# outlives the Client's close() for as long as the Client object lives.
LOGGED_MESSAGE_LIMIT = 1_000_000
_PICKLING = ("distributed.protocol.pickle", "dumps")


def pickled_in_band(buf: Buffer) -> bool:
    """Whether distributed is pickling ``buf`` into a message small enough for
    its message log: then the bytes go in band (a copy under 1 MB), and what the
    log keeps holds no export of the Buffer."""
    return buf.nbytes < LOGGED_MESSAGE_LIMIT and _called_from(_PICKLING)


def _called_from(where: tuple[str, str]) -> bool:
    """Whether distributed's function ``where`` (module, name) is on the stack
    above pybuf's caller; as pybuf._dask_node does, nothing of Dask is patched."""
    frame = sys._getframe(2)
    for _ in range(_MAX_DEPTH):
        if frame is None:
            return False
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) == where:
            return True
        frame = frame.f_back
    return False


def goes_by_name(name: str, context: dict[str, Any] | None) -> bool:
    """Whether the segment ``name`` is sent by name: to a recipient that shares
    /dev/shm, or to this worker's own spill file while the name still exists."""
    if context:
        return recipient_shares_shm(context)
    return _called_from(_SPILL) and os.path.exists(os.path.join(_shm_host.SHM_DIR, name))


def recipient_shares_shm(context: dict[str, Any] | None) -> bool:
    if not context:
        return False
    recipient = context.get("recipient") or {}
    token = _shm_host.host_token()
    return token is not None and recipient.get(HANDSHAKE_KEY) == token


def _segment_of(buf: Buffer) -> Any:
    """The open, not unlinked Segment a Buffer views, or None."""
    from .shm import Segment

    seg = buf.owner
    if isinstance(seg, Segment) and not seg.closed and not seg._unlinked:
        return seg
    return None


def _by_name(spec: tuple[Any, ...]) -> tuple[dict[str, Any], list[Any]]:
    return {"pybuf": "shm", "spec": list(spec), "host": _shm_host.host_token()}, []


def _attach_by_name(header: dict[str, Any], then: Any = None) -> Any:
    """The Buffer (``then(buffer)``) a by-name header stands for.

    A scheduler forwards what it receives without decoding it, so a by-name
    header can reach a process with another /dev/shm; mapping then fails, and
    the result is a node that raises the error when used (pybuf._dask_node).
    """
    from ._dask_node import map_or_failed_node
    from .shm import _map_buffer

    name, offset, shape, fmt, strides, readonly = header["spec"]
    args = (name, offset, tuple(shape), fmt, tuple(strides), readonly, header["host"])
    value = map_or_failed_node(_map_buffer, args)
    return then(value) if then is not None and isinstance(value, Buffer) else value


def serialize_buffer(buf: Buffer, context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Any]]:
    seg = _segment_of(buf)
    if seg is not None and goes_by_name(seg.name, context):
        return _by_name((seg.name, buf.address - seg._address, buf.shape, buf.format, buf.strides, buf.readonly))
    data = memoryview(_contiguous_bytes(buf)).cast("B")
    return {"pybuf": "bytes", "shape": list(buf.shape), "format": buf.format, "readonly": buf.readonly}, [data]


def deserialize_buffer(header: dict[str, Any], frames: list[Any]) -> Any:
    """A Buffer (or, by name where mapping failed, a node that raises when used)."""
    if header["pybuf"] == "shm":
        return _attach_by_name(header)
    shape, fmt, readonly = tuple(header["shape"]), header["format"], header["readonly"]
    _pybuf._check_stream_format(fmt)  # a header's format is a stream's: bounded
    frame = memoryview(frames[0]).cast("B") if frames else memoryview(b"")
    if frame.readonly and not readonly:
        # A read-only frame (a bytes object, a decompressed frame): the Buffer
        # was writable, so it gets a writable copy, as Dask does for NumPy.
        out = _pybuf.alloc(shape, fmt)
        if out.nbytes:
            memoryview(out).cast("B")[:] = frame
        return out
    return _pybuf.from_buffer(frame, readonly=True if readonly else None).region(
        0, shape, fmt, readonly=True if readonly else None
    )


# ---------------------------------------------------------------- NumPy views of shared memory


def _array_segment_spec(x: Any) -> tuple[Any, ...] | None:
    """(name, offset, shape, dtype, strides, readonly) when ``x`` views an open segment."""
    base = x
    while getattr(base, "base", None) is not None and not isinstance(base, memoryview):
        base = base.base
    buf = base.obj if isinstance(base, memoryview) else base
    if not isinstance(buf, Buffer):
        return None
    seg = _segment_of(buf)
    if seg is None or x.dtype.hasobject or x.dtype.fields is not None or x.dtype.subdtype is not None:
        return None
    offset = x.__array_interface__["data"][0] - seg._address
    return (seg.name, offset, x.shape, x.dtype.str, x.strides, not x.flags.writeable)


def _wrap_numpy(dask_serialize: Any, dask_deserialize: Any) -> None:
    import numpy as np

    # distributed registers its NumPy serializers lazily, at first use: import
    # them now so that pybuf's wrappers are not replaced later.
    import distributed.protocol.numpy  # noqa: F401

    serialize_array = dask_serialize.dispatch(np.ndarray)
    deserialize_array = dask_deserialize.dispatch(np.ndarray)
    if getattr(serialize_array, "_pybuf_shm", False):
        return

    def serialize_ndarray(x: Any, context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Any]]:
        spec = _array_segment_spec(x)
        if spec is None or not goes_by_name(spec[0], context):
            return serialize_array(x, context=context)  # type: ignore[no-any-return]
        return _by_name(spec)

    def deserialize_ndarray(header: dict[str, Any], frames: list[Any]) -> Any:
        if header.get("pybuf") != "shm":
            return deserialize_array(header, frames)
        return _attach_by_name(header, then=np.asarray)

    serialize_ndarray._pybuf_shm = True  # type: ignore[attr-defined]
    dask_serialize.register(np.ndarray)(serialize_ndarray)
    dask_deserialize.register(np.ndarray)(deserialize_ndarray)


def register_serializers() -> None:
    from distributed.protocol.serialize import dask_deserialize, dask_serialize

    dask_serialize.register(Buffer)(serialize_buffer)
    dask_deserialize.register(Buffer)(deserialize_buffer)
    try:
        import numpy  # noqa: F401
    except ImportError:
        return
    _wrap_numpy(dask_serialize, dask_deserialize)

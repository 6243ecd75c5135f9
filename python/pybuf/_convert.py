"""Conversions the C shim asks Python for: addresses and release functions
from ctypes and cffi objects, and PEP 3118 formats from NumPy dtypes.

Ints and format strings never come here: the shim reads those itself.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

_ffi: Any = None

#: ctypes.byref()'s type, which ctypes does not name.
_CArgObject = type(ctypes.byref(ctypes.c_char()))


def _cffi() -> Any:
    """An FFI instance, only once a cffi object has been seen."""
    global _ffi
    if _ffi is None:
        import cffi

        _ffi = cffi.FFI()
    return _ffi


def _is_cffi(obj: object) -> bool:
    return type(obj).__module__ == "_cffi_backend"


def address(args: tuple[object, str]) -> int | None:
    """The address a ctypes or cffi object (or an __index__ object) stands
    for; None for anything else, which the shim turns into its TypeError."""
    obj, argname = args
    if obj is None and argname == "arg":
        return 0
    if isinstance(obj, ctypes.c_void_p):
        return obj.value or 0
    if isinstance(obj, (ctypes._Pointer, ctypes._CFuncPtr)):  # type: ignore[attr-defined]
        # the pointer's own storage; ctypes.cast would put obj in a reference cycle
        # with itself, so a pointer dropped after its release would wait for a collection
        return ctypes.c_void_p.from_buffer(obj).value or 0
    if isinstance(obj, (ctypes.Array, ctypes.Structure, ctypes.Union, ctypes._SimpleCData)):
        return ctypes.addressof(obj)
    if type(obj) is _CArgObject:
        # byref(x, offset): c_void_p takes it as the address of x plus offset
        return ctypes.cast(obj, ctypes.c_void_p).value or 0
    if _is_cffi(obj):
        ffi = _cffi()
        try:
            if type(obj) is ffi.buffer:
                # ffi.buffer(): the address of the memory it exposes
                obj = ffi.from_buffer(obj)
            return int(ffi.cast("uintptr_t", obj))
        except TypeError:
            pass  # a struct or other non-scalar cdata: no address
    if hasattr(type(obj), "__index__") and not isinstance(obj, bool):
        value = type(obj).__index__(obj)  # type: ignore[attr-defined]  # its own exception passes through
        if not isinstance(value, int):
            raise TypeError(f"{argname}: __index__ returned {type(value).__name__}, not an int")
        return value
    return None


def cffi_pointer(obj: object) -> int | None:
    """The address ffi.cast gives for a cffi pointer, array or function, None
    for other cdata: the shim checks its own reading of each cffi type
    against this once, then reads that type's pointers in C."""
    if not _is_cffi(obj):
        return None
    try:
        if _cffi().typeof(obj).kind not in ("pointer", "array", "function"):
            return None
        return int(_cffi().cast("uintptr_t", obj))
    except TypeError:
        return None


def release(obj: object) -> tuple[int, object] | None:
    """(address, object to keep alive) for a cffi function pointer, None for
    anything else (ctypes functions and Python callables the shim reads
    itself)."""
    if not _is_cffi(obj):
        return None
    try:
        addr = _cffi_function(obj)
    except TypeError:  # an unhashable cdata
        addr = _cffi_function.__wrapped__(obj)
    return None if addr is None else (addr, obj)


@functools.lru_cache(maxsize=64)
def _cffi_function(obj: Any) -> int | None:
    # A binding passes the same few release functions again and again.
    if _cffi().typeof(obj).kind != "function":
        return None
    return int(_cffi().cast("uintptr_t", obj))


def dtype(args: tuple[object, str | None]) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    obj, reason = args
    try:
        hash(obj)
    except TypeError:
        return _dtype(obj, reason)
    return _dtype_cached(obj, reason)


@functools.lru_cache(maxsize=256)
def _dtype_cached(obj: object, reason: str | None) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    return _dtype(obj, reason)


def _dtype(obj: object, reason: str | None) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """(format, extra shape, extra strides) for anything numpy.dtype() reads.

    The format is the one NumPy itself exports for the dtype, so that
    np.asarray(buf).dtype is that dtype; a top-level sub-array dtype adds its
    dimensions (C-contiguous within one element), as NumPy does.
    """
    is_str = isinstance(obj, str)
    why = f" ({reason})" if reason else ""
    if obj is None:
        raise TypeError("dtype must be a format string or a NumPy dtype, not None")
    try:
        import numpy as np
    except ImportError:
        exc = ValueError if is_str else TypeError
        raise exc(f"dtype {obj!r} is not a PEP 3118 format{why}, and NumPy is not installed") from None
    try:
        dt = np.dtype(obj)  # type: ignore[call-overload]
    except (TypeError, ValueError) as e:
        if is_str:
            raise ValueError(f"dtype {obj!r} is neither a PEP 3118 format{why} nor a NumPy dtype ({e})") from None
        raise TypeError(f"dtype must be a format string or a NumPy dtype, not {obj!r} ({e})") from None
    base, sub = dt.base, dt.shape
    if base.hasobject:
        raise TypeError(f"dtype {dt}: Python object fields cannot live in foreign memory")
    try:
        fmt = memoryview(np.empty(0, dtype=base)).format
    except (ValueError, TypeError) as e:
        raise TypeError(f"dtype {dt}: NumPy does not exchange it through the buffer protocol ({e})") from None
    strides = []
    step = base.itemsize
    for n in reversed(sub):
        strides.append(step)
        step *= n
    return fmt, tuple(sub), tuple(reversed(strides))


def array(args: tuple[object, tuple[Any, ...], dict[str, Any] | None]) -> Any:
    """Buffer.__array__ on an open buffer: only reached when NumPy could not
    use the buffer protocol directly."""
    import numpy as np

    buf, pos, kw = args
    kw = dict(kw or {})
    dtype = pos[0] if pos else kw.pop("dtype", None)
    copy = pos[1] if len(pos) > 1 else kw.pop("copy", None)
    view = memoryview(buf)  # type: ignore[arg-type]
    if copy:
        return np.array(view, dtype=dtype, copy=True)
    return np.asarray(view, dtype=dtype)


def numpy_dtype(buf: Any) -> Any:
    """Buffer.dtype: NumPy's reading of the format, also for a closed Buffer (an
    AttributeError without NumPy, so that hasattr() probes answer False)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise AttributeError("pybuf.Buffer.dtype needs NumPy") from None
    return _dtype_of_format(buf.format)


@functools.lru_cache(maxsize=256)
def _dtype_of_format(fmt: str) -> Any:
    # NumPy reads a PEP 3118 format only from an export: an empty array's.
    import numpy as np

    from . import _pybuf

    return np.asarray(_pybuf.alloc(0, fmt)).dtype


def getitem(args: tuple[Any, Any]) -> Any:
    """Buffer[key]: NumPy indexing of the buffer (a view that holds it, or a copy)."""
    import numpy as np

    buf, key = args
    return np.asarray(buf)[key]


def _hooks() -> dict[str, Any]:
    from . import _pickle

    return {
        "address": address,
        "release": release,
        "cffi_pointer": cffi_pointer,
        "dtype": dtype,
        "array": array,
        "numpy_dtype": numpy_dtype,
        "getitem": getitem,
        "reduce": _pickle.reduce,
        "copy": _pickle.copy,
    }

"""Type stubs for pybuf (the C types live in pybuf._pybuf)."""

import ctypes
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, SupportsIndex, TypeAlias

from typing_extensions import CapsuleType, Self

from . import shm as shm
from ._live import OwnerInfo as OwnerInfo
from ._live import live as live

__version__: str

#: An address: an int (or an object with __index__), a ctypes pointer/array/c_void_p or
#: byref(), or a cffi pointer, array or buffer (ffi.buffer, ffi.from_buffer). Given as an
#: Owner's `arg`, the object itself is held until its release has run.
Address: TypeAlias = (
    int
    | SupportsIndex
    | ctypes.c_void_p
    | ctypes._Pointer[Any]
    | ctypes.Array[Any]
    | ctypes._CArgObject
    | Any
)
Shape: TypeAlias = SupportsIndex | tuple[SupportsIndex, ...]
#: A PEP 3118 format string, or anything numpy.dtype() accepts.
DType: TypeAlias = str | Any
#: None, a Python callable taking no argument, or a C function void f(void *).
Release: TypeAlias = None | Callable[[], object] | int | Any

class ForkError(RuntimeError): ...

class Owner:
    def __init__(
        self,
        release: Release = None,
        *,
        arg: Address | None = None,
        name: str | None = None,
        release_thread: Literal["creator"] | None = None,
        parent: Owner | None = None,
    ) -> None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def parent(self) -> Owner | None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def released(self) -> bool: ...
    @property
    def exports(self) -> int: ...
    @property
    def buffers(self) -> int: ...
    def buffer(
        self,
        address: Address,
        shape: Shape,
        dtype: DType = "B",
        *,
        strides: tuple[SupportsIndex, ...] | None = None,
        readonly: bool = False,
    ) -> Buffer: ...
    def child(
        self,
        release: Release = None,
        *,
        arg: Address | None = None,
        name: str | None = None,
        release_thread: Literal["creator"] | None = None,
    ) -> Owner: ...
    def close(self, strict: bool = False) -> None: ...
    def invalidate(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]: ...

class Buffer:
    @property
    def address(self) -> int: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def strides(self) -> tuple[int, ...]: ...
    @property
    def format(self) -> str: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def owner(self) -> Owner: ...
    @property
    def exports(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def c_contiguous(self) -> bool: ...
    @property
    def f_contiguous(self) -> bool: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def ndim(self) -> int: ...
    @property
    def dtype(self) -> Any: ...
    def __getitem__(self, key: Any) -> Any: ...
    def region(
        self,
        offset: SupportsIndex,
        shape: Shape,
        dtype: DType | None = None,
        *,
        strides: tuple[SupportsIndex, ...] | None = None,
        readonly: bool | None = None,
    ) -> Buffer: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any: ...
    def __dlpack__(
        self,
        *,
        stream: None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> CapsuleType: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...


def wrap(
    address: Address,
    shape: Shape,
    dtype: DType = "B",
    *,
    release: Release = None,
    arg: Address | None = None,
    strides: tuple[SupportsIndex, ...] | None = None,
    readonly: bool = False,
    name: str | None = None,
    release_thread: Literal["creator"] | None = None,
) -> Buffer: ...
def alloc(shape: Shape, dtype: DType = "B", *, name: str | None = None) -> Buffer: ...
def from_buffer(obj: Any, *, readonly: bool | None = None, name: str | None = None) -> Buffer: ...
def adopt(descriptor: Address, *, name: str | None = None) -> Buffer: ...
def run_pending() -> int: ...
def trace(on: bool = True) -> bool: ...
def load_core(path: str | bytes | Any) -> None: ...

"""Type stubs for pybuf.shm."""

from typing import Any, SupportsIndex

from . import Buffer, DType, Owner, Shape

class Segment(Owner):
    @property
    def name(self) -> str: ...  # type: ignore[override]
    @property
    def size(self) -> int: ...
    @property
    def readonly(self) -> bool: ...
    def buffer(  # type: ignore[override]
        self,
        offset: SupportsIndex,
        shape: Shape,
        dtype: DType = "B",
        *,
        strides: tuple[SupportsIndex, ...] | None = None,
        readonly: bool | None = None,
    ) -> Buffer: ...
    def unlink(self) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

def create(size: int, *, name: str | None = None, mode: int = 0o600) -> Segment: ...
class SegmentNotFoundError(FileNotFoundError, ValueError): ...

def attach(name: str, *, readonly: bool = False, allow_foreign: bool = False) -> Segment: ...
def unlink(name: str) -> None: ...

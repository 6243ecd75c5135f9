"""``dask.sizeof`` for pybuf objects, found through the ``dask.sizeof`` entry
point group (pyproject.toml), the way third-party libraries plug in.

Without it Dask sees a Buffer as a small Python object (``sys.getsizeof``,
152 bytes whatever its size), so its memory limits, spilling and scheduling
ignore the memory. Dask imports this module when it imports ``dask.sizeof``
(at ``import dask``); ``import pybuf`` never imports Dask.

Dask imports ``dask.sizeof`` in every process that runs Dask, including
scheduler and worker processes where nobody imported pybuf, so this is also
where the lazy ``distributed`` integration is armed (see pybuf._after_import).
"""

from __future__ import annotations

from typing import Any

from . import _after_import
from ._pybuf import Buffer
from .shm import Segment


def buffer_nbytes(buf: Buffer) -> int:
    """The bytes a Buffer spans; an axis of stride 0 repeats one element, counted once (as Dask does for NumPy)."""
    count = 1
    for n, stride in zip(buf.shape, buf.strides):
        if stride != 0:
            count *= n
        elif n == 0:
            count = 0
    return count * int(buf.itemsize)


def register(sizeof: Any) -> None:
    """The entry point: Dask calls it with its ``sizeof`` dispatcher."""
    sizeof.register(Buffer)(buffer_nbytes)
    sizeof.register(Segment)(lambda seg: seg.size)
    _after_import.arm_distributed()

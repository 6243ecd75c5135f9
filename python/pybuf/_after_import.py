"""Runs pybuf's Dask integration right after distributed's modules are
imported, and never imports them itself.

distributed has no plug-in group that it loads in every process at start (its
``distributed.comm.backends`` entry points load only for unknown address
schemes; preload modules need the user's configuration). What every Dask
process does load is the ``dask.sizeof`` entry point group (at ``import
dask``), and that is where pybuf arms this hook (pybuf._dask_sizeof); ``import
pybuf`` arms it too. Arming costs one finder on ``sys.meta_path`` that answers
only for the watched names: a scheduler or worker process that never sees a
pybuf object still tells its peers which /dev/shm it has, and one that does
has the serializers ready.

A module imported before arming gets its action at once; a failed action is a
warning, never an error in distributed's import.
"""

from __future__ import annotations

import importlib.machinery
import sys
import threading
import warnings
from types import ModuleType
from typing import Any, Callable


def _serializers() -> None:
    from . import _distributed

    _distributed.register_serializers()


def _handshake() -> None:
    from . import _distributed

    _distributed.announce_shm_host()


# Each action runs once, after its module has been executed.
_ACTIONS: dict[str, Callable[[], None]] = {
    "distributed.protocol": _serializers,
    "distributed.comm.core": _handshake,
}
_pending = dict(_ACTIONS)
_lock = threading.Lock()


def _run(name: str) -> None:
    with _lock:
        action = _pending.pop(name, None)
    if action is None:
        return
    try:
        action()
    except Exception as error:  # never break the user's import of distributed
        warnings.warn(f"pybuf: the Dask integration for {name} failed: {error!r}", RuntimeWarning, stacklevel=2)


# Plain classes, not importlib.abc's: importing that takes ~10 ms (importlib.resources).
class _ThenRun:
    """The module's own loader, then the action."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # what importlib.resources and friends expect
        self._loader.exec_module(module)
        _run(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)


class _Finder:
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenRun(spec.loader, fullname)
        return spec


_finder = _Finder()


def arm_distributed() -> None:
    """Idempotent. Modules already imported get their actions now."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    for name in list(_pending):
        module = sys.modules.get(name)
        if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
            _run(name)

"""python -m pybuf: a short self-check of this machine and of the lifetime rules.

Prints the versions and the library in use, says whether this process can use
Go (fork), and runs a one-second smoke test; exits non-zero on any failure.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import platform
import sys
import sysconfig
import time

import pybuf
from pybuf import _pybuf


def _check(label: str, ok: bool, failures: list[str]) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {label}")
    if not ok:
        failures.append(label)


def smoke(seconds: float = 1.0) -> list[str]:
    """Exercises rules 1-4 on ctypes memory until `seconds` have passed."""
    failures: list[str] = []
    released: list[int] = []
    data = (ctypes.c_int32 * 64)(*range(64))
    rounds = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        owner = pybuf.Owner(release=lambda: released.append(1), name="self-check")
        buf = owner.buffer(ctypes.addressof(data), 64, "i")
        view = memoryview(buf)[8:16]
        owner.close()
        if released or view[0] != 8:
            failures.append("release ran while a view was alive")
            break
        try:
            memoryview(buf)
            failures.append("a closed buffer gave out a new view")
            break
        except BufferError:
            pass
        del buf, view
        if released != [1]:
            failures.append("release did not run exactly once after the last view")
            break
        released.clear()
        rounds += 1
    gc.collect()
    print(f"  lifetime smoke test: {rounds} owner cycles in {seconds:.1f} s")
    _check("release exactly once, never under a live view", not failures, failures)
    return failures


def _gil_state() -> str:
    """The GIL as this process runs: "on", or "off (free-threaded build)"; on a
    free-threaded build, a GIL turned back on says so (pybuf itself never does)."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "on"
    if sys._is_gil_enabled():
        return "on (free-threaded build; enabled by PYTHON_GIL=1 or a module that needs it)"
    return "off (free-threaded build)"


def main() -> int:
    failures: list[str] = []
    try:
        import numpy as np

        numpy_version = np.__version__
    except ImportError:
        np = None  # type: ignore[assignment]
        numpy_version = "not installed (memoryview and ctypes consumers still work)"
    info = _pybuf._core_info()
    print(f"pybuf {pybuf.__version__}")
    print(f"  CPython   {platform.python_version()} ({sys.executable})")
    print(f"  GIL       {_gil_state()}")
    print(f"  NumPy     {numpy_version}")
    print(f"  module    {_pybuf.__file__}")
    from .gomodule import announced_library  # an installed Go module's library is the core

    core = (os.environ.get("PYBUF_CORE") or announced_library()
            or os.path.join(os.path.dirname(_pybuf.__file__), "_pybuf_core.so"))
    print(f"  Go core   {core}")
    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_context().get_start_method()
    print(f"  start method: {method}")
    if method == "fork":
        print("    note: with 'fork', children forked after pybuf's first use cannot use Go;")
        print("    prefer multiprocessing.get_context('spawn') or 'forkserver'")
    forked = bool(info["forked_after_load"])
    print(f"  forked child of a process that used pybuf: {'yes' if forked else 'no'}")
    if forked:
        print("  Go cannot run here: only inherited buffers and views work (use spawn/forkserver)")
        return 1
    try:
        buf = pybuf.alloc(16, "d")
    except Exception as e:  # report any failure to load the core, then stop
        _check(f"Go core loads ({type(e).__name__}: {e})", False, failures)
        return 1
    print(f"  Go core version {_pybuf._core_info()['version']}")
    _check("alloc is 64-byte aligned and zero-filled", buf.address % 64 == 0 and bytes(memoryview(buf)) == bytes(128), failures)
    if np is not None:
        a = np.asarray(buf)
        a[:] = 1.5
        _check("np.asarray is a zero-copy float64 view", a.dtype == np.float64 and memoryview(buf).cast("B")[:8] == memoryview(np.float64(1.5)).cast("B"), failures)
        buf.owner.close()
        try:
            np.asarray(buf)
            _check("a closed buffer makes NumPy raise", False, failures)
        except BufferError:
            _check("a closed buffer makes NumPy raise", True, failures)
        del a
    del buf
    failures += smoke()
    print("self-check:", "passed" if not failures else f"FAILED ({len(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

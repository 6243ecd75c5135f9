"""The seed scenario, done safely with pybuf.

A C library keeps its state in buffers it allocates and frees itself; Python
only decides when, through the library's create/destroy functions. We want
NumPy arrays that look straight into those buffers, and we never want to read
or write one after the library freed it.

Run with `make demo`.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np

import pybuf

HERE = os.path.dirname(os.path.abspath(__file__))


def load_library() -> ctypes.CDLL:
    """Compiles examples/libstate/libstate.c: our 'closed-source' library."""
    out = os.path.join(tempfile.mkdtemp(prefix="pybuf-demo-"), "libstate.so")
    subprocess.check_call(
        ["cc", "-shared", "-fPIC", "-O2", "-o", out, os.path.join(HERE, "libstate", "libstate.c")]
    )
    lib = ctypes.CDLL(out)
    lib.state_create.restype = ctypes.c_void_p
    lib.state_create.argtypes = [ctypes.c_int]
    lib.state_data.restype = ctypes.c_void_p
    lib.state_data.argtypes = [ctypes.c_void_p]
    lib.state_destroy.argtypes = [ctypes.c_void_p]
    lib.state_destroyed.restype = ctypes.c_long
    return lib


lib = load_library()


class MyWrapper:
    """The binding from the original question, with pybuf doing the lifetime.

    The owner's release is the library's destroy function, given the C handle
    (not this wrapper): pybuf calls it exactly once, after the last view of
    the buffer is gone, without the GIL.
    """

    def __init__(self, n: int = 10) -> None:
        handle = lib.state_create(n)
        self._owner = pybuf.Owner(release=lib.state_destroy, arg=handle, name=f"state {handle:#x}")
        self._data, self._n = lib.state_data(handle), n

    def buffer(self) -> np.ndarray:
        # A Buffer per call, held only by the array: the wrapper keeps no view
        # itself, so a strict destroy fails only for the caller's own views.
        return np.asarray(self._owner.buffer(self._data, self._n, "i"))  # zero-copy, writable

    def destroy(self, strict: bool = False) -> None:
        self._owner.close(strict=strict)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    step("1. A NumPy array straight into the library's buffer")
    wrap = MyWrapper()
    buf = wrap.buffer()
    buf[:] = np.arange(10)
    buf[::2] += 10
    print("   buf            =", buf)
    data = ctypes.cast(wrap._data, ctypes.POINTER(ctypes.c_int))
    print("   C sees data[0] =", data[0], " (same memory, no copy)")
    sbv = buf.view(np.float64)
    print("   buf.view(f8)   has", sbv.size, "elements;", "np.dot(buf, buf) =", np.dot(buf, buf))

    step("2. del wrap: the original code freed the buffer here; pybuf waits")
    del wrap
    print("   destroyed so far:", lib.state_destroyed())
    print("   live owners     :", [(i.name, i.buffers, i.exports) for i in pybuf.live()])
    print("   buf still reads :", buf, " sum =", np.sum(buf))
    buf[0] = 99
    print("   and writes      :", buf[:3])

    step("3. Drop the views one by one: the library's destroy runs right after the last")
    del buf
    print("   after del buf  : destroyed =", lib.state_destroyed(), "(sbv still views it)")
    del sbv
    print("   after del sbv  : destroyed =", lib.state_destroyed())

    step("4. A binding that must destroy now asks for it, and is told what holds the memory")
    pybuf.trace(True)
    wrap = MyWrapper()
    view = wrap.buffer()[2:8]
    try:
        wrap.destroy(strict=True)
    except BufferError as e:
        print("   BufferError:", str(e).replace("\n", "\n      "))
    del view
    wrap.destroy(strict=True)
    print("   after del view, strict destroy ran: destroyed =", lib.state_destroyed())
    pybuf.trace(False)

    step("5. close() with a live view: no new views, the old one works until it dies")
    wrap = MyWrapper()
    arr = wrap.buffer()
    wrap.destroy()
    try:
        wrap.buffer()
    except BufferError as e:
        print("   new view refused:", e)
    arr[:] = 7
    print("   old view still valid:", arr[:4], "destroyed =", lib.state_destroyed())
    del arr
    print("   after del arr: destroyed =", lib.state_destroyed())

    ok = lib.state_destroyed() == 3 and not pybuf.live()
    print("\nEvery state destroyed exactly once, never under a live view:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

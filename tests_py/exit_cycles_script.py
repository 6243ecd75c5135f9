"""Every wrapper-cycle pattern of the state machine, left alive at interpreter exit.

Run by test_exit_cycles.py in its own process: prints "released <name>" from each release
that runs; PYBUF_REPORT_LEAKS=1 names the owners that were not released."""
import ctypes
import functools
import itertools
import os
import sys

import numpy as np

import pybuf
from cycle_parts import CallableRelease, hold

RELEASES = ["method", "lambda", "callable_del", "partial_handle", "cfunctype"]
HOLDS = ["none", "buffer", "memoryview", "mv_slice", "ndarray", "ndarray_buffer", "ctypes",
         "dlpack_capsule", "picklebuffer"]
FINALIZERS = ["none", "reads", "keeps_ndarray", "resurrects", "closes"]
CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
KEPT = []


def say(name):
    os.write(1, f"released {name}\n".encode())


class W:
    def release(self):
        assert self.mem is not None and self.name is not None   # the wrapper is whole
        say(self.name)

    def __del__(self):
        if self.fin == "reads" and self.view is not None:
            bytes(memoryview(self.view).cast("B")) if not isinstance(self.view, np.ndarray) \
                else self.view.sum()
        elif self.fin == "keeps_ndarray" and self.buf is not None:
            try:
                KEPT.append(np.ndarray((16,), np.uint8, buffer=self.buf))
            except BufferError:
                pass
        elif self.fin == "resurrects":
            KEPT.append(self)
        elif self.fin == "closes":
            self.owner.close()


def make(i, release, holds, fin):
    w = W()
    w.name, w.fin, w.mem = f"c{i}", fin, (ctypes.c_ubyte * 16)()
    w.buf = w.view = None
    if release == "method":
        rel = w.release
    elif release == "lambda":
        rel = lambda: w.release()   # noqa: E731
    elif release == "callable_del":
        rel = CallableRelease(w)
    elif release == "partial_handle":     # nothing of this module: a builtin and bytes
        rel = functools.partial(os.write, 1, f"released {w.name}\n".encode())
    else:
        w.cb = CB(lambda p: w.release())
        rel = w.cb
    w.owner = pybuf.Owner(release=rel, name=w.name)
    if holds != "none":
        w.buf = w.owner.buffer(w.mem, 16)
    return hold(w, holds, 16, np.uint8)


# An ndarray or a capsule in a cycle through a release over its wrapper is never garbage
# (the collector cannot see what they hold), and through the class, or any function of
# this module, it would keep this whole module alive past exit (PYBUF_REPORT_LEAKS then
# names every owner): those go with a release that holds nothing of this module.
INVISIBLE = {"ndarray", "ndarray_buffer", "dlpack_capsule"}
# The same for an np.ndarray(buffer=) a __del__ keeps in a global list.
combos = [c for c in itertools.product(RELEASES, HOLDS, FINALIZERS)
          if (c[1] not in INVISIBLE and c[2] != "keeps_ndarray") or c[0] == "partial_handle"]
module_level = [make(i, *c) for i, c in enumerate(combos)]   # alive until exit
del module_level[::2]                                         # half already garbage
print("total", len(combos), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "collect-once":
    import gc
    gc.collect()                                              # armed, not yet released

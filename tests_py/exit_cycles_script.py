"""Every wrapper-cycle pattern of the state machine, left alive at interpreter exit.

Run by test_exit_cycles.py in its own process: prints "released <name>" from each release
that runs; PYBUF_REPORT_LEAKS=1 names the owners that were not released.

Beside them, readers (r<i>): cycles whose finalizer reads a view at exit (another object's
__del__, or an Owner subclass's own), over an anonymous page that the release makes
PROT_NONE: a read after the release is a segfault. Each prints "read <name> intact" when
it finds the bytes the page was filled with."""
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


# Readers. Which object's __del__ reads: another object of the owner's cycle ("holder"),
# or the Owner subclass itself, calling super().__del__() after its read, before it, or not
# at all. A holder kept alive by module globals until finalization is left out: that one
# stays outside the promise (docs/RELIABILITY.md, "At interpreter exit").
READERS = ["holder", "subclass_super_last", "subclass_super_first", "subclass_no_super"]
READER_VIEWS = ["memoryview", "mv_of_mv", "mv_slice", "ctypes"]
READER_RELEASES = ["default_args", "partial", "cfunctype", "method"]
LIFETIMES = ["garbage", "alive"]
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def protect(addr, name, _w=os.write, _mp=libc.mprotect):
    _w(1, b"released %s\n" % name.encode())
    _mp(addr, 4096, 0)                        # PROT_NONE: any later read is a SIGSEGV


def read_view(name, view, _w=os.write):
    data = view.tobytes() if isinstance(view, memoryview) else bytes(view)
    _w(1, b"read %s %s\n" % (name.encode(), b"intact" if data == b"\1" * len(data) else data))


def reader_view(buf, kind):
    if kind == "memoryview":
        return memoryview(buf)
    if kind == "mv_of_mv":
        return memoryview(memoryview(buf))
    if kind == "mv_slice":
        return memoryview(buf)[8:]
    return (ctypes.c_ubyte * 64).from_buffer(buf)


def reader_release(target, addr, name, kind):
    if kind == "default_args":
        return lambda a=addr, n=name: protect(a, n)
    if kind == "partial":
        return functools.partial(protect, addr, name)
    if kind == "cfunctype":
        target.cb = CB(lambda p, a=addr, n=name: protect(a, n))
        return target.cb
    return target.release_page                # a method: the cycle runs through it


class Holder:
    def release_page(self, _protect=protect):
        _protect(self.addr, self.name)

    def __del__(self, _read=read_view):
        _read(self.name, self.view)


class ReadingOwner(pybuf.Owner):
    def __init__(self, name, addr, how, release):
        self.name_, self.addr, self.how = name, addr, how
        super().__init__(release=reader_release(self, addr, name, release), name=name)

    def release_page(self, _protect=protect):
        _protect(self.addr, self.name_)

    def __del__(self, _read=read_view):
        if self.how == "subclass_super_first":
            super().__del__()
        _read(self.name_, self.view)
        if self.how == "subclass_super_last":
            super().__del__()


def make_reader(i, how, view, release):
    name, addr = f"r{i}", libc.mmap(None, 4096, 3, 0x22, -1, 0)
    ctypes.memset(addr, 1, 64)
    if how == "holder":
        w = Holder()
        w.name, w.addr = name, addr
        w.owner = pybuf.Owner(release=reader_release(w, addr, name, release), name=name)
        w.view, w.me = reader_view(w.owner.buffer(addr, 64), view), w
        return w
    w = ReadingOwner(name, addr, how, release)
    w.view = reader_view(w.buffer(addr, 64), view)
    return w


readers = [c for c in itertools.product(READERS, READER_VIEWS, READER_RELEASES, LIFETIMES)
           if c[0] != "holder" or c[3] == "garbage"]
reader_objects = [make_reader(i, *c[:3]) for i, c in enumerate(readers)]
alive_readers = [w for w, c in zip(reader_objects, readers) if c[3] == "alive"]
del reader_objects                                         # the rest: garbage, not collected
print("readers", len(readers), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "collect-once":
    import gc
    gc.collect()                                              # armed, not yet released

"""Row 2: the full safe cycle on C memory: allocate in C, wrap, view with
NumPy, drop everything, and the C free runs. Each alternative does the same
C calls; they differ only in how (and whether) ownership is tracked."""

from __future__ import annotations

import ctypes
from functools import partial

import numpy as np
import pybuf

from common import Row, interleaved, paired_ratio

N = 1024                  # int32 elements: 4 KiB, small so overheads dominate
NBYTES = N * 4


def _array_interface_owner(lib):
    """The classic hand-written owner: NumPy keeps it as the array's base,
    and its __del__ frees once the last view is gone."""
    data, destroy = lib.bench_data, lib.bench_destroy

    class AIOwner:
        __slots__ = ("h", "__array_interface__", "__weakref__")

        def __init__(self, h):
            self.h = h
            self.__array_interface__ = {"data": (data(h), False), "shape": (N,),
                                        "typestr": "<i4", "version": 3}

        def __del__(self):
            destroy(self.h)

    return AIOwner


def _checked_subclass(lib):
    """The seed question's approach: an ndarray subclass that checks, on
    every attribute access, that the pointer it holds is still valid; a
    small handle object frees the memory when the last such array dies."""
    destroy = lib.bench_destroy

    class Handle:
        __slots__ = ("h",)

        def __init__(self, h):
            self.h = h

        def __del__(self):
            destroy(self.h)
            self.h = None

    class Checked(np.ndarray):
        def __array_finalize__(self, obj):
            self._handle = getattr(obj, "_handle", None)

        def __getattribute__(self, name):
            handle = object.__getattribute__(self, "__dict__").get("_handle")
            if handle is not None and handle.h is None:
                raise ValueError("the memory behind this array was freed")
            return np.ndarray.__getattribute__(self, name)

    return Handle, Checked


def _cffi(libpath):
    import cffi

    from common import CDEF

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(libpath)


def cycle_rows(lib, libpath) -> list[Row]:
    Handle, Checked = _checked_subclass(lib)
    ffi, clib = _cffi(libpath)
    g = {
        "np": np, "asarray": np.asarray, "wrap": pybuf.wrap, "partial": partial,
        "create": lib.bench_create, "data": lib.bench_data, "destroy": lib.bench_destroy,
        "as_array": np.ctypeslib.as_array, "IntArr": ctypes.c_int * N,
        "AIOwner": _array_interface_owner(lib), "Handle": Handle, "Checked": Checked,
        "gc": ffi.gc, "fbuffer": ffi.buffer, "frombuffer": np.frombuffer, "int32": np.int32,
        "ccreate": clib.bench_create, "cdestroy": clib.bench_destroy,
        "N": N, "NB": NBYTES, "ba": bytearray(NBYTES),
    }
    cases = {
        "pybuf, C release":
            ('h = create(NB); a = asarray(wrap(data(h), N, "i", release=destroy, arg=h)); del a', g),
        "pybuf, Python release":
            ('h = create(NB); a = asarray(wrap(data(h), N, "i", release=partial(destroy, h))); del a', g),
        "ctypes from_address + explicit free (no ownership)":
            ("h = create(NB); a = as_array(IntArr.from_address(data(h))); del a; destroy(h)", g),
        "__array_interface__ owner, frees in __del__":
            ("h = create(NB); a = asarray(AIOwner(h)); del a", g),
        "ndarray subclass checking the pointer":
            ("h = create(NB); a = as_array(IntArr.from_address(data(h))).view(Checked); "
             "a._handle = Handle(h); del a", g),
        # cffi's natural use calls the library through cffi too (cheaper calls than ctypes).
        "cffi ffi.gc + ffi.buffer + np.frombuffer":
            ("p = gc(ccreate(NB), cdestroy); a = frombuffer(fbuffer(p, NB), int32); del a, p", g),
        # A binding written with cffi, handing pybuf the cffi pointer and function.
        "pybuf via cffi, C release (the cffi function)":
            ('p = ccreate(NB); a = asarray(wrap(p, N, "i", release=cdestroy, arg=p)); del a', g),
        "pybuf via cffi, Python release":
            ('p = ccreate(NB); a = asarray(wrap(p, N, "i", release=partial(cdestroy, p))); del a', g),
        # What any Python release costs before ownership is tracked at all: the
        # same cffi calls, the partial made and called, a view of other memory.
        "floor of a Python release: the calls alone, no ownership":
            ("p = ccreate(NB); f = partial(cdestroy, p); a = asarray(ba); del a; f()", g),
    }
    s = interleaved(cases, rounds=301)
    nothing = "ctypes from_address + explicit free (no ownership)"
    tracking = [n for n in cases if not n.startswith(("pybuf", "ctypes", "floor"))]
    rows = []
    for subject in ("pybuf, C release", "pybuf, Python release"):
        sub = s[subject]
        for alt in tracking:
            r = paired_ratio(sub, s[alt])
            if alt.startswith("cffi"):
                # Not like with like: the library through ctypes here, through
                # cffi there (cheaper calls); the "via cffi" rows compare that.
                rows.append(Row("2 cycle", f"{subject} vs {alt}", sub, s[alt],
                                note="ctypes calls against cffi calls: context only"))
                continue
            rows.append(Row("2 cycle", f"{subject} vs {alt}", sub, s[alt],
                            target="< 1.00x", met=r < 1.0))
        r = paired_ratio(sub, s[nothing])
        rows.append(Row("2 cycle", f"{subject} vs {nothing}", sub, s[nothing],
                        target="<= 2.00x", met=r <= 2.0))
    cffi_owning = "cffi ffi.gc + ffi.buffer + np.frombuffer"
    for subject, target in (("pybuf via cffi, C release (the cffi function)", 1.0),
                            ("pybuf via cffi, Python release", 0.75)):
        r = paired_ratio(s[subject], s[cffi_owning])
        rows.append(Row("2 cycle", f"{subject} vs {cffi_owning}", s[subject], s[cffi_owning],
                        target=f"<= {target:.2f}x", met=r <= target,
                        note="same library calls through cffi on both sides"))
    floor = "floor of a Python release: the calls alone, no ownership"
    r = paired_ratio(s[floor], s[cffi_owning])
    rows.append(Row("2 cycle", f"{floor} vs {cffi_owning}", s[floor], s[cffi_owning],
                    note="no pybuf at all: the least any Python release can cost; "
                         "a target below this ratio cannot be met"))
    return rows

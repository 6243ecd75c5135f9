"""Group 1 create: making a buffer, against the same call with the cheapest
argument or against the hand-written alternative. The same scenarios are
counted in instructions by bench/callgrind.py (bench/NOTES.md has the
profile)."""

from __future__ import annotations

import ctypes

import numpy as np
import pybuf

from common import Row, interleaved, paired_ratio


def _ai_owner(addr: int):
    class AIOwner:
        """An object NumPy can view whose __del__ would free: the classic owner."""

        __slots__ = ("__array_interface__", "__weakref__")

        def __init__(self):
            self.__array_interface__ = {"data": (addr, False), "shape": (10,),
                                        "typestr": "<i4", "version": 3}

        def __del__(self):
            pass

    return AIOwner


def _row(s, label, a, b, target, limit, note=""):
    ratio = paired_ratio(s[a], s[b])
    return Row("1 create", label, s[a], s[b], target=target, met=ratio <= limit, note=note)


def create_rows() -> list[Row]:
    import cffi

    ffi = cffi.FFI()
    mem = ctypes.create_string_buffer(4096)
    addr = ctypes.addressof(mem)

    def release():
        pass

    g = {"np": np, "wrap": pybuf.wrap, "addr": addr, "cptr": ffi.cast("int *", addr),
         "i32": np.int32, "f": release, "AIOwner": _ai_owner(addr), "Owner": pybuf.Owner,
         "doc": pybuf.Owner(release, name="document")}
    s = interleaved({
        "wrap(addr, 10, 'i')": ("wrap(addr, 10, 'i')", g),
        "wrap(addr, 10, np.int32)": ("wrap(addr, 10, i32)", g),
        "wrap(cffi_ptr, 10, 'i')": ("wrap(cptr, 10, 'i')", g),
        "wrap(addr, 10, 'i', release=f)": ("wrap(addr, 10, 'i', release=f)", g),
        "__array_interface__ owner": ("AIOwner()", g),
        "np.asarray(wrap(addr, 10, 'i'))": ("np.asarray(wrap(addr, 10, 'i'))", g),
        "np.asarray(bytearray(40))": ("np.asarray(bytearray(40))", g),
        "Owner(f, name='row')": ("Owner(f, name='row')", g),
        "doc.child(f, name='row')": ("doc.child(f, name='row')", g),
    }, rounds=101)
    return [
        _row(s, "wrap(addr, 10, np.int32) vs wrap(addr, 10, 'i')",
             "wrap(addr, 10, np.int32)", "wrap(addr, 10, 'i')", "<= 1.15x", 1.15,
             "the dtype hook's answer is kept per dtype object in C"),
        _row(s, "wrap(cffi_ptr, 10, 'i') vs wrap(addr, 10, 'i')",
             "wrap(cffi_ptr, 10, 'i')", "wrap(addr, 10, 'i')", "<= 1.50x", 1.5,
             "cffi pointers read in C once ffi.cast agreed for their type"),
        _row(s, "wrap(addr, 10, 'i', release=f), create + drop, vs __array_interface__ owner",
             "wrap(addr, 10, 'i', release=f)", "__array_interface__ owner", "<= 1.50x", 1.5),
        _row(s, "np.asarray(wrap(addr, 10, 'i')), create + view + drop, vs np.asarray(bytearray(40))",
             "np.asarray(wrap(addr, 10, 'i'))", "np.asarray(bytearray(40))", "<= 1.30x", 1.3),
        _row(s, "doc.child(f, name='row'), create + drop, vs Owner(f, name='row')",
             "doc.child(f, name='row')", "Owner(f, name='row')", "<= 1.20x", 1.2,
             "a method call with no keyword dict; the child counts itself in its parent"),
    ]

"""Rows 1 and 5: the cost of handing out one view of memory that already has
an owner (buffer protocol and DLPack), against NumPy's own floors."""

from __future__ import annotations


import numpy as np
import pybuf

from common import Row, interleaved, paired_ratio

NBYTES = 4096


def view_rows(lib) -> list[Row]:
    # Foreign memory from the C library, one Buffer over it; the bytearray has
    # the same size and format ('B'), so NumPy does the same work on its side.
    handle = lib.bench_create(NBYTES)
    buf = pybuf.wrap(handle, NBYTES, "B", release=lib.bench_destroy, arg=handle)
    g = {"np": np, "buf": buf, "ba": bytearray(NBYTES)}
    s = interleaved({
        "np.asarray(buf)": ("np.asarray(buf)", g),
        "np.asarray(bytearray)": ("np.asarray(ba)", g),
        "memoryview(buf)": ("memoryview(buf)", g),
        "memoryview(bytearray)": ("memoryview(ba)", g),
    }, rounds=301)
    ratio = paired_ratio(s["np.asarray(buf)"], s["np.asarray(bytearray)"])
    return [
        Row("1 view", "np.asarray(buf) vs np.asarray(bytearray)",
            s["np.asarray(buf)"], s["np.asarray(bytearray)"],
            target="<= 1.10x", met=ratio <= 1.10),
        Row("1 view", "memoryview(buf) vs memoryview(bytearray)",
            s["memoryview(buf)"], s["memoryview(bytearray)"],
            note="the export itself, without NumPy's format parsing"),
    ]


def dlpack_rows() -> list[Row]:
    # Same dtype and size on both sides; the consumer is NumPy in both.
    buf = pybuf.alloc(NBYTES // 8, "d")
    arr = np.zeros(NBYTES // 8)
    g = {"np": np, "buf": buf, "arr": arr}
    s = interleaved({
        "np.from_dlpack(buf)": ("np.from_dlpack(buf)", g),
        "np.from_dlpack(ndarray)": ("np.from_dlpack(arr)", g),
    }, rounds=301)
    ratio = paired_ratio(s["np.from_dlpack(buf)"], s["np.from_dlpack(ndarray)"])
    return [Row("5 DLPack", "np.from_dlpack(buf) vs np.from_dlpack(ndarray)",
                s["np.from_dlpack(buf)"], s["np.from_dlpack(ndarray)"],
                target="<= 1.10x", met=ratio <= 1.10,
                note="versioned capsule (NumPy asks for max_version >= 1.0)")]

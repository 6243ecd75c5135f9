"""Group 6: Go module functions (examples/gostats, built by pybuf.gobuild)
against what Python would otherwise do, in the same run.

- a trivial Go call, gostats.add, against a ctypes call of libc's labs
  (target <= 0.6x: one C call path, arguments converted in C);
- a 10^6 float64 result made in Go and exported (gostats.grid(1000, 1000))
  against the same result copied out, as a binding without exports does;
- a fresh 10^6 float64 result filled with a constant, gostats.full (memory
  pybuf owns: pymod.Fresh, no zeroing by Go, no pin) against np.full
  (target <= 1.5x), and the same made with make() in Go's heap
  (gostats.full_go_heap), today's other route;
- a borrowed 10^6 float64 input (gostats.mean reads NumPy's memory where it
  lies) against the same call on np.ascontiguousarray of a 10^6 strided
  input, the copy a binding without borrowing makes first.

`make bench` runs it from run.py (rows in docs/BENCHMARKS.md); alone:

    .venv/bin/python bench/gomodule.py
"""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Row, interleaved  # noqa: E402

GROUP = "6 Go module"


def pair(label: str, subject: str, against: str, g: dict, rounds: int, **row) -> Row:
    """One row: the statement `subject` against `against`, interleaved in rounds."""
    s = interleaved({subject: (subject, g), against: (against, g)}, rounds=rounds)
    return Row(GROUP, label, s[subject], s[against], **row)


def gomodule_rows() -> list[Row]:
    import gostats

    libc = ctypes.CDLL(None)
    labs = libc.labs
    labs.argtypes = [ctypes.c_long]
    labs.restype = ctypes.c_long
    g = {"add": gostats.add, "labs": labs, "grid": gostats.grid, "mean": gostats.mean, "np": np,
         "full": gostats.full, "full_go_heap": gostats.full_go_heap,
         "x": np.linspace(0.0, 1.0, 1_000_000),
         "strided": np.linspace(0.0, 1.0, 2_000_000)[::2]}
    add = pair("gostats.add(1, 2) vs ctypes libc labs(-3)", "add(1, 2)", "labs(-3)", g, 101,
               target="<= 0.60x", note="argument conversion in C, GIL released, one C->Go crossing")
    add.met = add.ratio is not None and add.ratio <= 0.60
    fresh = pair("fresh 10^6 float64 result: full(10**6, 2.5) (pymod.Fresh) vs np.full(10**6, 2.5)",
                 "full(1_000_000, 2.5)", "np.full(1_000_000, 2.5)", g, 41, target="<= 1.50x",
                 note="memory pybuf owns (an anonymous mapping, zero pages until touched), filled in Go, "
                      "no pin; freed by the owner's release")
    fresh.met = fresh.ratio is not None and fresh.ratio <= 1.50
    rows = [
        add,
        fresh,
        pair("the same in Go's heap: full_go_heap(10**6, 2.5) (make) vs np.full(10**6, 2.5)",
             "full_go_heap(1_000_000, 2.5)", "np.full(1_000_000, 2.5)", g, 21,
             note="make([]float64) zeroes it, then it is pinned until the last view is gone"),
        pair("10^6 float64 Go result: grid(1000, 1000) exported vs the same result copied",
             "grid(1000, 1000)", "np.array(grid(1000, 1000))", g, 21,
             note="both make and fill the grid in Go; the alternative copies it out, as a copying binding does"),
        pair("borrowed 10^6 float64 input: mean(x) vs mean(np.ascontiguousarray(x_strided))",
             "mean(x)", "mean(np.ascontiguousarray(strided))", g, 21,
             note="x is read where it lies; the alternative first makes the contiguous copy a "
                  "non-borrowing binding needs"),
        pair("fixed cost of an array result: grid(1, 1) vs add(1, 2)", "grid(1, 1)", "add(1, 2)", g, 51,
             note="owner, Buffer, numpy.asarray; the release runs when the array dies"),
    ]
    assert gostats.live_pins() == 0, "a benchmark left a Go export pinned"
    assert gostats.fresh_blocks() == 0, "a benchmark left a Fresh block allocated"
    return rows


def main() -> None:
    from run import print_table

    rows = gomodule_rows()
    print_table(rows)


if __name__ == "__main__":
    main()

"""A Go []float64 of 10^8 elements reaching NumPy: pybuf's zero-copy export
(pin, describe, pybuf.adopt, np.asarray) against copying it into a NumPy array.

Standalone: builds examples/goext (go build -buildmode=c-shared) unless --lib
names a build, and loads it as pybuf's Go core, so it must run in a process
where pybuf has not been used yet.

    .venv/bin/python bench/goslice.py [--n 100000000] [--lib path/libgoext.so] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(out_dir: str) -> str:
    out = os.path.join(out_dir, "libgoext.so")
    subprocess.run(["go", "build", "-buildmode=c-shared", "-o", out, "./examples/goext"],
                   cwd=ROOT, check=True, env={**os.environ, "CGO_ENABLED": "1"})
    return out


def load(path: str):
    lib = ctypes.CDLL(path)
    lib.goext_make.argtypes = [ctypes.c_int64]
    lib.goext_export_kept.restype = ctypes.c_void_p
    lib.goext_live_pins.restype = ctypes.c_int64
    import pybuf
    pybuf.load_core(path)      # the library's Go runtime is pybuf's core: one runtime
    return lib, pybuf


def measure(lib, pybuf, n: int, rounds: int, copies: int) -> dict:
    import numpy as np

    lib.goext_make(n)           # allocated and filled once; only exports are timed
    ns = time.perf_counter_ns
    export, release = [], []
    for _ in range(rounds):
        t0 = ns()
        a = np.asarray(pybuf.adopt(lib.goext_export_kept()))
        t1 = ns()
        del a                   # the last view: unpinned here
        t2 = ns()
        export.append(t1 - t0)
        release.append(t2 - t1)
    assert lib.goext_live_pins() == 0, "an export stayed pinned"

    view = np.asarray(pybuf.adopt(lib.goext_export_kept()))
    assert view.shape == (n,) and view[-1] == n - 1
    copy = []
    for _ in range(copies):
        t0 = ns()
        c = np.array(view)      # what a copying binding has to do at the least
        copy.append(ns() - t0)
        del c
        gc.collect()
    del view
    return {
        "n": n,
        "bytes": 8 * n,
        "export_median_us": statistics.median(export) / 1e3,
        "export_min_us": min(export) / 1e3,
        "release_median_us": statistics.median(release) / 1e3,
        "copy_median_ms": statistics.median(copy) / 1e6,
        "rounds": rounds,
        "copies": copies,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10**8, help="float64 elements (default 10^8)")
    ap.add_argument("--lib", help="a build of examples/goext (default: build one now)")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.lib or build(tmp)
        lib, pybuf = load(path)
        r = measure(lib, pybuf, args.n, args.rounds, args.copies)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"Go []float64, {r['n']:,} elements ({r['bytes'] / 2**20:,.0f} MiB) to NumPy")
    print(f"  pybuf export (pin + adopt + np.asarray)  median {r['export_median_us']:9.1f} us"
          f"  (min {r['export_min_us']:.1f} us, {r['rounds']} rounds)")
    print(f"  release of the last view (unpin)         median {r['release_median_us']:9.1f} us")
    print(f"  np.array copy                            median {r['copy_median_ms'] * 1e3:9.1f} us"
          f"  ({r['copies']} copies)")
    print(f"  copy / export: {r['copy_median_ms'] * 1e3 / r['export_median_us']:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

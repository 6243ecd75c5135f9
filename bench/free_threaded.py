"""Free-threaded CPython: the creation path, the view path and thread scaling on
3.13t beside 3.13 (`make bench-ft`; `make bench` runs it last).

    python bench/free_threaded.py --gil PYTHON --ft PYTHON [--seconds S] [--runs R]

Each interpreter runs this file with --child (3.13t with PYTHON_GIL=0), which
times, round by round:
  create  pybuf.wrap(address, 1024, "<d") and dropping it (an owner and a Buffer)
  view    np.asarray(buf) and dropping it (an export and its release)
  numpy   np.frombuffer(ctypes array) and dropping it: the same memory viewed
          without pybuf, so that what the interpreter itself costs on 3.13t
          (3.13t specializes no bytecode) is told apart from pybuf's locks
  threads N threads, each creating, viewing and dropping buffers of its own,
          for N = 1 and 2: operations per second over all threads
The parent prints ratios: 3.13t against 3.13 per operation (the cost of the
locks that replace the GIL), and each build's 2-thread throughput against its
own 1-thread one (what running without the GIL buys on 2 cores). Nothing here
asserts on a timing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import threading
import time

N = 1024


def per_op(fn, rounds=7, ops=20000):
    """Median seconds per call of fn() over `rounds` rounds of `ops` calls."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(ops):
            fn()
        times.append((time.perf_counter() - t0) / ops)
    return statistics.median(times)


def throughput(nthreads, seconds):
    """Create-view-drop cycles per second, all threads together."""
    import numpy as np
    import pybuf

    counts = [0] * nthreads
    start = threading.Barrier(nthreads + 1)
    stop = threading.Event()

    def work(i):
        mem = (ctypes.c_double * N)()
        addr = ctypes.addressof(mem)
        start.wait()
        n = 0
        while not stop.is_set():
            for _ in range(100):
                a = np.asarray(pybuf.wrap(addr, N, "<d"))
                del a
            n += 100
        counts[i] = n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def child(seconds):
    import numpy as np
    import pybuf

    mem = (ctypes.c_double * N)()
    addr = ctypes.addressof(mem)
    buf = pybuf.wrap(addr, N, "<d")
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    out = {
        "python": sys.version.split()[0] + ("" if gil else " (GIL off)"),
        "create": per_op(lambda: pybuf.wrap(addr, N, "<d")),
        "view": per_op(lambda: np.asarray(buf)),
        "numpy": per_op(lambda: np.frombuffer(mem, "<d")),
        "threads": {n: throughput(n, seconds) for n in (1, 2)},
    }
    json.dump(out, sys.stdout)


def run(python, seconds, env):
    p = subprocess.run([python, os.path.abspath(__file__), "--child", "--seconds", str(seconds)],
                       capture_output=True, text=True, env=dict(os.environ, **env), check=False)
    if p.returncode != 0:
        sys.exit(f"bench/free_threaded.py: {python} failed:\n{p.stderr}")
    return json.loads(p.stdout)


def median_of(results):
    """One result whose every figure is the median of that figure over `results`."""
    out = dict(results[0])
    for key in ("create", "view", "numpy"):
        out[key] = statistics.median(r[key] for r in results)
    out["threads"] = {n: statistics.median(r["threads"][n] for r in results) for n in ("1", "2")}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gil")
    ap.add_argument("--ft")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.child:
        return child(args.seconds)
    if not (args.gil and args.ft):
        ap.error("--gil and --ft name the two interpreters")
    # The two builds alternate, run after run; each figure is the median of its runs.
    runs = {"gil": [], "ft": []}
    for _ in range(args.runs):
        runs["gil"].append(run(args.gil, args.seconds, {}))
        runs["ft"].append(run(args.ft, args.seconds, {"PYTHON_GIL": "0"}))
    gil, ft = (median_of(runs[k]) for k in ("gil", "ft"))
    print(f"medians of {args.runs} alternating runs of each build")
    print(f"free-threaded: {ft['python']} against {gil['python']}, {os.cpu_count()} cores")
    print(f"{'row':52} {'3.13':>10} {'3.13t':>10} {'ratio':>7}")
    for key, what in (("create", "create: wrap(address, 1024, '<d'), dropped"),
                      ("view", "view: np.asarray(buf), dropped"),
                      ("numpy", "without pybuf: np.frombuffer(ctypes array)")):
        print(f"{what:52} {gil[key] * 1e9:8.0f}ns {ft[key] * 1e9:8.0f}ns {ft[key] / gil[key]:6.2f}x")
    for name, r in (("3.13", gil), ("3.13t", ft)):
        one, two = r["threads"]["1"], r["threads"]["2"]
        print(f"{'threads on ' + name + ': 2 threads / 1 thread (ops/s)':52} {one:10.0f} {two:10.0f} "
              f"{two / one:6.2f}x")


if __name__ == "__main__":
    main()

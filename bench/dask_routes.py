"""The figures of docs/DISTRIBUTED.md's "More routes" table: spilling, dask.array,
joblib (loky) and concurrent.futures, for a pybuf.shm Buffer against the same
data as a plain ndarray.

Run: .venv/bin/python bench/dask_routes.py [MiB]   (default 200, as group 6 of make bench; joblib is optional)
Times are medians of 7 rounds, interleaved, after one warm-up round each; bytes
are what crosses (pickled or written), counted exactly.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import pybuf.dask
from pybuf import shm

ROUNDS = 7


def total(x):
    return float(np.asarray(x).sum())


def median_ms(*fns) -> list[float]:
    """Median milliseconds of each function, rounds interleaved, after a warm-up."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(ROUNDS):
        for fn, out in zip(fns, times):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [statistics.median(t) * 1e3 for t in times]


def row(route, what, shm_ms, arr_ms, shm_bytes, arr_bytes):
    ratio = shm_ms / arr_ms
    print(f"| {route} | {what} | {int(shm_bytes):,} B vs {int(arr_bytes):,} B | "
          f"{ratio:.{2 if ratio >= 0.01 else 3}f}x ({shm_ms:.1f} ms vs {arr_ms:.1f} ms) |")


def spilling(seg, n):
    import dask
    from distributed import Client, LocalCluster

    def view(name, as_array):
        buf = shm.attach(name).buffer(0, n, "<f8")
        return np.asarray(buf) if as_array else buf

    def plain():
        return np.ones(n)

    def spill_all(dask_worker):
        t = time.perf_counter()
        while dask_worker.data.fast:
            dask_worker.data.evict()
        return time.perf_counter() - t, dask_worker.data.cumulative_metrics[("disk-write", "bytes")]

    with dask.config.set({"distributed.worker.memory.spill-compression": False}), LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=":0"
    ) as cluster, Client(cluster) as c:
        out = {}
        for label, make in (("shm", lambda: c.submit(view, seg.name, False, pure=False)),
                            ("ndarray", lambda: c.submit(plain, pure=False))):
            times, written = [], []
            for _ in range(ROUNDS):
                fut = make()
                fut.result()
                (before,) = c.run(lambda dask_worker: dask_worker.data.cumulative_metrics[("disk-write", "bytes")]).values()
                ((secs, after),) = c.run(spill_all).values()
                times.append(secs * 1e3)
                written.append(after - before)
                del fut
            out[label] = statistics.median(times), written[-1]
        row("Dask spilling a key to disk", "bytes written", out["shm"][0], out["ndarray"][0], out["shm"][1], out["ndarray"][1])


def dask_array(seg, n):
    import dask.array as da
    from distributed import Client, LocalCluster

    buf = seg.buffer(0, (64, n // 64), "<f8")
    arr = np.ones((64, n // 64))
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as c:
        x_shm = pybuf.dask.from_buffers([[b] for b in (seg.buffer(i * (n // 8) * 8, (8, n // 64), "<f8") for i in range(8))])
        x_arr = da.from_array(arr, chunks=(8, n // 64))
        sizes = [len(pickle.dumps(dict(x.__dask_graph__()), protocol=5)) for x in (x_shm, x_arr)]
        x_one = da.from_array(buf, chunks=(8, n // 64))
        size_one = len(pickle.dumps(dict(x_one.__dask_graph__()), protocol=5))
        shm_ms, one_ms, arr_ms = median_ms(*(lambda x=x: c.compute(x.sum()).result() for x in (x_shm, x_one, x_arr)))
        row("dask.array `from_buffers`, 8 chunks, `.sum()`", "graph pickled", shm_ms, arr_ms, *sizes)
        row("dask.array `from_array(shm_buf)`, 8 chunks", "graph pickled", one_ms, arr_ms, size_one, sizes[1])
    del buf


def joblib_route(seg, n):
    try:
        from joblib import Parallel, delayed
    except ImportError:
        print("| joblib | not installed | | |")
        return
    buf = seg.buffer(0, n, "<f8")
    view = np.asarray(buf)
    arr = np.ones(n)
    with Parallel(n_jobs=2, backend="loky") as parallel:
        parallel(delayed(total)(1) for _ in range(2))  # start the workers

        def run(x):
            return parallel(delayed(total)(x) for _ in range(4))

        buf_ms, view_ms, arr_ms = median_ms(*(lambda x=x: run(x) for x in (buf, view, arr)))
    # joblib copies an ndarray (a view of the segment too) into its memmap
    # folder and sends a reference to the copy; a Buffer is pickled, by name.
    row("joblib (loky), 4 tasks", "Buffer pickled per task vs ndarray copied to joblib's folder",
        buf_ms, arr_ms, len(pickle.dumps(buf, protocol=5)), arr.nbytes)
    print(f"| joblib, ndarray viewing the segment | copied to joblib's folder | {view.nbytes:,} B | "
          f"{view_ms / arr_ms:.2f}x ({view_ms:.1f} ms) |")


def futures_route(seg, n):
    buf = seg.buffer(0, n, "<f8")
    arr = np.ones(n)
    # forkserver: a forked child of a process that loaded pybuf's Go core cannot use it
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        def run(x):
            return list(pool.map(total, [x] * 4))

        buf_ms, arr_ms = median_ms(*(lambda x=x: run(x) for x in (buf, arr)))
    sizes = [len(pickle.dumps(x, protocol=pickle.DEFAULT_PROTOCOL)) for x in (buf, arr)]
    row("ProcessPoolExecutor, 4 tasks", "pickled per task", buf_ms, arr_ms, *sizes)


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n = (mib << 20) // 8
    with shm.create(n * 8) as seg:
        np.asarray(seg.buffer(0, n, "<f8"))[:] = 1.0
        try:
            print(f"{mib} MiB of float64, {os.cpu_count()} cores")
            print("| route | what is counted | bytes: shm Buffer vs ndarray | time: shm Buffer vs ndarray |")
            print("|---|---|---|---|")
            spilling(seg, n)
            dask_array(seg, n)
            joblib_route(seg, n)
            futures_route(seg, n)
        finally:
            seg.unlink()


if __name__ == "__main__":
    main()

"""A frame pipeline over pybuf shared memory: one producer, several workers, no copies.

The producer process writes frames into a ring of slots in one shared-memory
segment; worker processes compute on NumPy views of the same slots. Only slot
numbers travel through the queues: the frames never leave the segment.

    python examples/shm_pipeline.py [--frames 400] [--workers 4] [--size 512] [--slots 8]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from multiprocessing.queues import Queue
from typing import Any

import numpy as np

import pybuf
from pybuf import shm



def producer(ring: pybuf.Buffer, nframes: int, free: Queue[int], tasks: Queue[Any], nworkers: int) -> None:
    # `ring` arrived pickled as (segment name, offset, layout): this process
    # attached to the segment and views the very same pages as the parent.
    frames = np.asarray(ring)
    for i in range(nframes):
        slot = free.get()
        frame = frames[slot]
        frame[:] = i                      # a frame: a flat level ...
        frame[0, :] = np.arange(frame.shape[1])  # ... and a ramp, to have something to check
        tasks.put((i, slot))
    for _ in range(nworkers):
        tasks.put(None)


def worker(ring: pybuf.Buffer, free: Queue[int], tasks: Queue[Any], results: Queue[Any]) -> None:
    frames = np.asarray(ring)
    while (task := tasks.get()) is not None:
        i, slot = task
        frame = frames[slot]              # a view: no copy of the frame
        total = float(frame.sum(dtype=np.float64))
        peak = float(frame.max())
        free.put(slot)
        results.put((i, total, peak))


def expected(i: int, height: int, width: int) -> tuple[float, int]:
    return i * (height - 1) * width + width * (width - 1) / 2, max(i, width - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)  # at least 2
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--size", type=int, default=512, help="frames are size x size float32")
    ap.add_argument("--slots", type=int, default=8)
    args = ap.parse_args()
    n, h = args.slots, args.size
    # forkserver (or spawn): workers start clean; the segment reaches them by name.
    ctx = mp.get_context("forkserver")
    free: Queue[int] = ctx.Queue()
    tasks: Queue[Any] = ctx.Queue()
    results: Queue[Any] = ctx.Queue()
    for slot in range(n):
        free.put(slot)

    with shm.create(n * h * h * 4) as seg:
        try:
            ring = seg.buffer(0, (n, h, h), "<f4")
            procs = [ctx.Process(target=worker, args=(ring, free, tasks, results))
                     for _ in range(args.workers)]
            procs.append(ctx.Process(target=producer,
                                     args=(ring, args.frames, free, tasks, args.workers)))
            for p in procs:
                p.start()
            done = [results.get()]       # timing starts once the processes are up
            t0 = time.perf_counter()
            done += [results.get() for _ in range(args.frames - 1)]
            elapsed = time.perf_counter() - t0
            for p in procs:
                p.join()
            bad = [r for r in done if (r[1], r[2]) != expected(r[0], h, h)]
            assert not bad and all(p.exitcode == 0 for p in procs), (bad[:3], procs)
        finally:
            seg.unlink()    # the creator decides when the name goes away
        del ring

    rate = (args.frames - 1) / elapsed
    print(f"{args.frames} frames of {h}x{h} float32 through {seg.name} "
          f"({n} slots, {args.workers} workers): {rate:,.0f} frames/s, "
          f"{rate * h * h * 4 / 1e6:,.0f} MB/s, zero copies, results checked")


if __name__ == "__main__":
    main()

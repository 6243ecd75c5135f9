"""Threads hammering shared owners while the GIL switches every microsecond.

Workers share a pool of owners (C and Python releases) and, at random, take buffers and
views of every kind, write and read their own slot, drop them, close, strict-close and
replace closed owners. Checked while running: a worker never sees its memory destroyed
while it holds a view, reads what it wrote, never sees a negative count. Checked at the
end: every handle destroyed exactly once, every count back to zero, `live()` clean.

PYBUF_THREAD_ITERS sets the iterations per thread (CI: 2000; `make stress`: more).
"""
import ctypes
import gc
import os
import random
import sys
import threading

import numpy as np

import pybuf
from fakehelp import describe

THREADS = int(os.environ.get("PYBUF_THREADS", "6"))
ITERS = int(os.environ.get("PYBUF_THREAD_ITERS", "2000"))
POOL = 3
N = 64                       # int32 per handle: one slot per thread, with room
PREFIX = "thr-owner-"


class Pool:
    def __init__(self, fake):
        self.fake = fake
        self.lock = threading.Lock()      # guards the bookkeeping lists only
        self.handles = []                 # every handle ever created, with its Calls
        self.serial = 0
        self.slots = [self.fresh() for _ in range(POOL)]

    def fresh(self):
        h = self.fake.create_ints(N)
        calls = []
        with self.lock:
            self.serial += 1
            name = f"{PREFIX}{self.serial}"
            python = self.serial % 2 == 0
            self.handles.append((h, calls if python else None))
        if python:
            lib = self.fake.lib
            return pybuf.Owner(release=lambda: (calls.append(1), lib.fake_destroy(h.h)),
                               name=name), h
        return pybuf.Owner(release=self.fake.lib.fake_destroy, arg=h.h, name=name), h


def consumer(buf, kind):
    if kind == 0:
        return np.asarray(buf)
    if kind == 1:
        return memoryview(buf)
    if kind == 2:
        return np.from_dlpack(buf)
    if kind == 3:
        return (ctypes.c_int32 * N).from_buffer(buf)
    return np.asarray(buf.region(0, (buf.shape[0],), "i"))[::-1][::-1]


def worker(pool, tid, iters, errors, stats):
    stats = stats[tid]                    # per thread: += on a shared dict is not atomic
    rnd = random.Random(tid)
    held = []                             # (h, buf, view) this thread keeps a while
    try:
        for it in range(iters):
            op = rnd.random()
            slot = rnd.randrange(POOL)
            owner, h = pool.slots[slot]
            if op < 0.45:
                try:
                    buf = owner.buffer(h.ptr, N, "i")
                    view = consumer(buf, rnd.randrange(5))
                except BufferError:
                    stats["refused"] += 1     # closed meanwhile: the documented answer
                    continue
                # Holding a view: the memory must be alive before we touch it.
                assert h.destroys == 0, f"thread {tid}: destroyed under a live view"
                value = tid * 1_000_000 + it
                view[tid] = value
                assert view[tid] == value and h.read(tid) == value
                held.append((h, buf, view))
                stats["exports"] += 1
            elif op < 0.75 and held:
                h2, buf, view = held.pop(rnd.randrange(len(held)))
                assert h2.destroys == 0, f"thread {tid}: destroyed under a live view"
                del buf, view
            elif op < 0.85:
                owner.close()
                pool.slots[slot] = pool.fresh()
                stats["closes"] += 1
            elif op < 0.95:
                try:
                    owner.close(strict=True)
                except BufferError as e:
                    assert "buffer(s)" in str(e)
                    stats["strict_refused"] += 1
                    continue
                assert owner.released and h.destroys == 1
                pool.slots[slot] = pool.fresh()
                stats["strict_closes"] += 1
            else:
                assert owner.exports >= 0 and owner.buffers >= 0, repr(owner)
                if rnd.random() < 0.2:
                    gc.collect()
            if len(held) > 6:
                del held[0]
        held.clear()
    except BaseException as e:   # reported by the test
        errors.append((tid, repr(e)))


def test_threads_hammer_shared_owners(fake):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        pool = Pool(fake)
        errors = []
        stats = [dict(exports=0, refused=0, closes=0, strict_closes=0, strict_refused=0)
                 for _ in range(THREADS)]
        ts = [threading.Thread(target=worker, args=(pool, t, ITERS, errors, stats))
              for t in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(600)
        assert not any(t.is_alive() for t in ts), "a worker hung"
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    for owner, h in pool.slots:
        assert h.destroys == 0
        assert (owner.buffers, owner.exports) == (0, 0), repr(owner)
    pool.slots.clear()
    del owner
    gc.collect()
    bad = [(h.h, h.destroys, calls) for h, calls in pool.handles
           if h.destroys != 1 or (calls is not None and len(calls) != 1)]
    assert bad == [], f"not released exactly once: {bad[:5]}"
    left = [i.name for i in pybuf.live() if (i.name or "").startswith(PREFIX)]
    assert left == []
    total = {k: sum(s[k] for s in stats) for k in stats[0]}
    print(f"\nthreads: {THREADS} x {ITERS} iterations, {len(pool.handles)} owners, {total}")


def test_threads_race_exports_against_close(run_isolated):
    """Many short races in a fresh process: a release run twice aborts it (strict lib)."""
    rc, out, err = run_isolated(f"""
        import threading
        sys.setswitchinterval(1e-6)
        for r in range({max(20, ITERS // 10)}):
            h = fake.create_ints(8)
            owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h)
            buf = owner.buffer(h.ptr, 8, "i")
            go = threading.Barrier(5)
            def ex():
                go.wait()
                for _ in range(50):
                    try:
                        a = np.asarray(buf); m = memoryview(buf); del a, m
                    except BufferError:
                        pass
            def closer(strict):
                go.wait()
                try:
                    owner.close(strict=strict)
                except BufferError:
                    pass
            ts = [threading.Thread(target=ex) for _ in range(3)]
            ts += [threading.Thread(target=closer, args=(s,)) for s in (False, True)]
            for t in ts: t.start()
            for t in ts: t.join()
            assert h.destroys == 0
            del buf, t, ts
            gc.collect()
            assert h.destroys == 1, h.destroys
            assert owner.exports == 0 and owner.buffers == 0
        print("ok")
    """, timeout=300)
    assert rc == 0, describe(rc, out, err)
    assert "ok" in out

"""Releases and threads: C releases run without the GIL, exact counts under concurrency,
releases that call back into pybuf."""
import gc
import sys
import threading

import numpy as np
import pytest

import pybuf
from fakehelp import Calls, describe


def test_c_release_called_without_gil_from_close(fake):
    h = fake.create_ints(4)
    owner = pybuf.Owner(release=fake.lib.fake_destroy_gil_probe, arg=h.h)
    owner.close()
    assert h.destroys == 1
    assert fake.lib.fake_last_gil_state() == 0


def test_c_release_called_without_gil_from_dealloc(fake):
    h = fake.create_ints(4)
    buf = pybuf.wrap(h.ptr, 4, "i", release=fake.lib.fake_destroy_gil_probe, arg=h.h)
    a = np.asarray(buf)
    del buf
    del a
    gc.collect()
    assert h.destroys == 1
    assert fake.lib.fake_last_gil_state() == 0


def test_python_release_called_with_gil(fake):
    seen = []
    h = fake.create_ints(4)
    buf = pybuf.wrap(h.ptr, 4, "i", release=lambda: seen.append(threading.get_ident()))
    del buf
    gc.collect()
    assert seen == [threading.get_ident()]


def test_concurrent_exports_counts_exact(fake):
    h = fake.create_ints(256)
    owner = pybuf.Owner(**h.owner_kwargs())
    buf = owner.buffer(h.ptr, 256, "i")
    errors = []
    start = threading.Barrier(8)

    def worker(i):
        try:
            start.wait()
            for j in range(300):
                a = np.asarray(buf)
                m = memoryview(buf)
                s = a[i::8]
                s += 0
                assert m[i] == a[i]
                r = buf.region(4 * i, 4, "i")
                ra = np.asarray(r)
                del a, m, s, ra, r
        except BaseException as e:   # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts)
    assert errors == []
    gc.collect()
    assert buf.exports == 0
    assert owner.exports == 0
    assert owner.buffers == 1
    assert h.ints(8) == list(range(8))
    del buf
    owner.close()
    assert h.destroys == 1


def test_race_close_against_last_view(fake):
    rounds = 200
    handles = [fake.create_ints(4) for _ in range(rounds)]
    for h in handles:
        owner = pybuf.Owner(**h.owner_kwargs())
        box = [np.asarray(owner.buffer(h.ptr, 4, "i"))]
        go = threading.Barrier(2)

        def drop():
            go.wait()
            box.clear()

        t = threading.Thread(target=drop)
        t.start()
        go.wait()
        owner.close()
        t.join(30)
        assert not t.is_alive()
    gc.collect()
    assert [h.destroys for h in handles] == [1] * rounds


def test_many_owners_do_not_accumulate(fake):
    before = len(pybuf.live())
    for _ in range(2000):
        b = pybuf.alloc(16, "i")
        np.asarray(b)[0] = 1
        del b
    c = Calls()
    for _ in range(2000):
        o = pybuf.Owner(release=c)
        o.close()
    gc.collect()
    assert c.calls == 2000
    assert len(pybuf.live()) <= before


def test_release_may_call_back_into_pybuf(run_isolated):
    rc, out, err = run_isolated("""
        log = []
        def rel():
            log.append(len(pybuf.live()))
            b = pybuf.alloc(4, "i")
            o = pybuf.Owner(release=lambda: log.append("inner"))
            o.close()
            log.append(int(np.asarray(b).sum()))
        h = fake.create_ints(4)
        buf = pybuf.wrap(h.ptr, 4, "i", release=rel)
        a = np.asarray(buf)
        buf.owner.close()
        del buf
        del a          # release from the last export's release
        gc.collect()
        o2 = pybuf.Owner(release=rel)
        o2.close()     # release from close()
        o3 = pybuf.Owner(release=rel)
        del o3         # release from dealloc
        gc.collect()
        print("log", log)
    """, timeout=60)
    assert rc == 0, describe(rc, out, err)
    line = [l for l in out.splitlines() if l.startswith("log")][0]
    assert line.count("'inner'") == 3, line


def test_release_from_thread_that_drops_last_view(run_isolated):
    rc, out, err = run_isolated("""
        import threading
        h = fake.create_ints(1024)
        buf = pybuf.wrap(h.ptr, 1024, "i", release=fake.lib.fake_destroy, arg=h.h)
        views = [np.asarray(buf)[i::7] for i in range(7)]
        del buf
        def work(v):
            v += 1
        ts = [threading.Thread(target=work, args=(views.pop(),)) for _ in range(7)]
        for t in ts: t.start()
        for t in ts: t.join()
        del t, ts
        gc.collect()
        print("destroys", h.destroys)
    """)
    assert rc == 0, describe(rc, out, err)
    assert "destroys 1" in out


def test_strict_close_waits_for_release_running_in_another_thread():
    """Rule 4: "when close(strict=True) returns, the release has run (also on an owner
    already closed)". Here another thread's close() is inside a C release (a ctypes
    callback that waits) when strict close is called. Found by test_stress_threads.py."""
    import ctypes
    import time
    inside, done, ran_on = threading.Event(), threading.Event(), []

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    def slow_release(arg):
        ran_on.append(threading.get_ident())
        inside.set()
        time.sleep(0.3)           # gives the GIL away: the main thread calls close(strict)
        done.set()

    owner = pybuf.Owner(release=slow_release)
    t = threading.Thread(target=owner.close)
    t.start()
    assert inside.wait(60)        # the other thread is inside the release, for sure
    owner.close(strict=True)
    finished_before_return = done.is_set()
    t.join()
    assert ran_on == [t.ident]    # ran once, by the other thread, not by strict close
    assert finished_before_return, "close(strict=True) returned while the release ran"

"""The cp313t wheel at work, with the GIL off (run by packaging/check_ft_wheel.sh).

Each round: one Buffer over ctypes memory whose owner has a Python release,
handed to two threads that view it with NumPy at once; the owner is closed and
the main thread drops its Buffer while both views are alive; each thread reads
its view after the close, then drops it and the Buffer. The release must not
run while a view is alive and must run exactly once after both threads have let
go; a closed buffer must refuse new views. Any failure is an AssertionError
(exit status 1), never a printed line alone.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading

import numpy as np

import pybuf

ROUNDS = 50
N = 4096
EXPECTED_SUM = N * (N - 1) // 2


def one_round(data: ctypes.Array[ctypes.c_int64]) -> None:
    released: list[int] = []
    owner = pybuf.Owner(release=lambda: released.append(1), name="ft-wheel")
    buf = owner.buffer(ctypes.addressof(data), N, "q")
    # the timeouts only keep a failure from hanging: a broken barrier is an error
    both_viewing = threading.Barrier(3, timeout=60)  # both views alive at once
    closed = threading.Barrier(3, timeout=60)  # the owner closed under both views
    sums: dict[int, int] = {}
    errors: list[BaseException] = []

    def view(k: int, buf: pybuf.Buffer) -> None:
        try:
            a = np.asarray(buf)
            assert a.ctypes.data == ctypes.addressof(data), "NumPy's array is a copy"
            both_viewing.wait()
            closed.wait()
            sums[k] = int(a.sum())  # still the owner's memory: the release has not run
            del a, buf
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            both_viewing.abort()
            closed.abort()

    threads = [threading.Thread(target=view, args=(k, buf)) for k in range(2)]
    for t in threads:
        t.start()
    try:
        both_viewing.wait()
        owner.close()
        assert released == [], "the release ran while two views were alive"
        try:
            np.asarray(buf)
        except BufferError:
            pass
        else:
            raise AssertionError("a closed buffer gave NumPy a new view")
        del buf  # the threads' Buffers and views are the last ones
        assert released == [], "the release ran while two views were alive"
        closed.wait()
    except BaseException:
        both_viewing.abort()  # the threads stop waiting and end
        closed.abort()
        for t in threads:
            t.join()
        raise
    for t in threads:
        t.join()
    assert not errors, errors
    assert sums == {0: EXPECTED_SUM, 1: EXPECTED_SUM}, sums
    # 3.13t frees an object whose last reference another thread dropped on the
    # thread that made it, at that thread's next check for pending work or at a
    # collection, which merges every thread's queue first: the Buffer may still
    # be queued here.
    gc.collect()
    assert len(released) == 1, f"the release ran {len(released)} times"


def main() -> None:
    assert not sys._is_gil_enabled(), "the GIL is on"
    data = (ctypes.c_int64 * N)(*range(N))
    for _ in range(ROUNDS):
        one_round(data)
    assert not sys._is_gil_enabled(), "the GIL came back on"
    print(f"free-threaded use: {ROUNDS} rounds, 2 NumPy views each, one release each")


if __name__ == "__main__":
    main()

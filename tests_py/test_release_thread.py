"""release_thread="creator": releases queued for the thread that made the owner."""

import threading

import numpy as np
import pytest

import pybuf


def _views_die_on_other_thread(make_views, owner):
    """Another thread makes views (make_views()), `owner` is closed here while they live,
    then that thread drops them: their last reference goes there, and so they die there.
    Made there, not here: free-threaded CPython (biased reference counting) deallocates an
    object whose last reference another thread drops on the thread that made it, once that
    thread gets to it; an object made and dropped on one thread dies there at once."""
    made, closed = threading.Event(), threading.Event()
    errors = []

    def work():
        try:
            views = make_views()
        except BaseException as e:  # reported below, on the test's thread
            errors.append(e)
            made.set()
            return
        made.set()
        closed.wait()
        del views

    t = threading.Thread(target=work)
    t.start()
    made.wait()
    try:
        owner.close()
    finally:
        closed.set()
        t.join()
    assert errors == []


def test_default_release_runs_on_the_thread_that_drops_the_last_view():
    ran_on = []
    b = pybuf.alloc(4)
    o = pybuf.Owner(release=lambda: ran_on.append(threading.get_ident()))
    _views_die_on_other_thread(lambda: [np.asarray(o.buffer(b.address, 4))], o)
    assert len(ran_on) == 1 and ran_on[0] != threading.get_ident()


def test_creator_release_waits_for_the_creator_thread():
    ran_on = []
    b = pybuf.alloc(4)
    o = pybuf.Owner(release=lambda: ran_on.append(threading.get_ident()), release_thread="creator")
    _views_die_on_other_thread(lambda: [np.asarray(o.buffer(b.address, 4))], o)
    assert ran_on == []           # queued: the other thread must not run it
    assert o.released             # but no view can reach the memory any more
    assert pybuf.run_pending() == 1
    assert ran_on == [threading.get_ident()]
    assert pybuf.run_pending() == 0


def test_creator_release_runs_at_the_creator_next_pybuf_call(fake):
    h = fake.create_ints(16)
    o = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h, release_thread="creator")
    _views_die_on_other_thread(lambda: [np.asarray(o.buffer(h.ptr, 16, "i"))], o)
    assert h.destroys == 0
    pybuf.alloc(1)                # any pybuf call on the creator thread
    assert h.destroys == 1


def test_creator_release_on_the_creator_thread_runs_at_once():
    ran = []
    o = pybuf.Owner(release=lambda: ran.append(1), release_thread="creator")
    o.close()
    assert ran == [1]


def test_run_pending_raises_the_release_error():
    def boom():
        raise RuntimeError("boom")

    mem = pybuf.alloc(1)
    o = pybuf.Owner(release=boom, release_thread="creator")
    _views_die_on_other_thread(lambda: [o.buffer(mem.address, 1)], o)
    with pytest.raises(RuntimeError, match="boom"):
        pybuf.run_pending()
    assert pybuf.run_pending() == 0   # never retried


def test_release_thread_must_be_none_or_creator():
    ran = []
    before = len(pybuf.live())
    with pytest.raises(ValueError, match="release_thread"):
        pybuf.Owner(release=lambda: ran.append(1), release_thread="main")
    assert len(pybuf.live()) == before
    assert ran == []


def test_strict_close_of_a_creator_release_elsewhere_is_refused():
    ran = []
    o = pybuf.Owner(release=lambda: ran.append(1), release_thread="creator")
    errors = []

    def strict():
        try:
            o.close(strict=True)
        except BufferError as e:
            errors.append(str(e))

    t = threading.Thread(target=strict)
    t.start()
    t.join()
    assert len(errors) == 1 and "creator" in errors[0]
    assert not o.closed and ran == []     # nothing changed
    o.close(strict=True)                  # on the creator thread: released before it returns
    assert ran == [1] and o.released

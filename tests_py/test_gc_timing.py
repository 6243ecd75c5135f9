"""When a garbage owner is released (cshim/collector.c), and what users see around it."""
import gc
import threading
import warnings

import numpy as np
import pytest

import pybuf


def test_null_address_from_ctypes_none_with_zero_size():
    b = pybuf.wrap(None, 0)
    assert b.address == 0 and b.nbytes == 0
    assert "address=0x0," in repr(b)


def test_null_address_with_size_names_address():
    with pytest.raises(ValueError, match="address"):
        pybuf.wrap(None, 4)


def test_unnamed_owner_in_messages():
    o = pybuf.Owner()
    b = o.buffer(0x1000, 4)
    o.close()
    with pytest.raises(BufferError, match="buffer of an unnamed owner is closed"):
        memoryview(b)
    with pytest.raises(BufferError, match="an unnamed owner is closed"):
        o.buffer(0x1000, 4)


def test_buffer_kept_by_a_finalizer_keeps_its_owner():
    """use_after_release_resurrect_ndarray's pattern: a __del__ in the cycle keeps a Buffer
    (np.ndarray(buffer=) would hold it without an export): its owner waits for it."""
    kept, log = [], []

    class W:
        def __del__(self):
            kept.append(self.buf)

    def make():
        w = W()
        w.owner = pybuf.Owner(release=lambda: log.append(1), name="kept")
        w.buf = w.owner.buffer(0x1000, 8)
        w.me = w

    make()
    gc.collect()
    gc.collect()
    (buf,) = kept
    assert not buf.owner.released        # kept by a finalizer: not released
    assert buf.address == 0x1000
    assert np.ndarray((8,), np.uint8, buffer=buf).base is buf
    assert log == []
    kept.clear()
    del buf
    assert log == [1]                    # the last reference went: released at once


def test_first_collection_keeps_the_cycle_whole_second_releases():
    log = []

    class W:
        def __init__(self):
            self.owner = pybuf.Owner(release=lambda: log.append(type(self.view).__name__),
                                     name="pair")
            self.view = memoryview(self.owner.buffer(0x1000, 8))

    W()
    gc.collect()
    assert log == []
    assert [i.name for i in pybuf.live()].count("pair") == 1
    gc.collect()
    assert log == ["memoryview"]          # the wrapper was intact when the release ran
    assert "pair" not in [i.name for i in pybuf.live()]


def test_resurrected_cycle_released_only_when_it_dies_again():
    log, saved = [], []

    class W:
        def __del__(self):
            if not saved:
                saved.append(self)

    def make():
        w = W()
        w.owner = pybuf.Owner(release=lambda: log.append(1), name="phoenix")
        w.view = memoryview(w.owner.buffer(0x1000, 8))
        w.me = w

    make()
    for _ in range(3):
        gc.collect()
    assert log == []
    assert bytes(saved[0].view[:0]) == b""   # still usable: nothing was released under it
    saved.clear()
    gc.collect()
    gc.collect()
    assert log == [1]


def test_subclass_del_calling_close_releases_once():
    log = []

    class MyOwner(pybuf.Owner):
        def __del__(self):
            self.close()

    o = MyOwner(release=lambda: log.append(1), name="sub-close")
    o.buf = o.buffer(0x1000, 8)
    del o
    gc.collect()
    gc.collect()
    assert log == [1]


def test_creator_release_runs_on_creator_when_it_ends():
    ran, ready, go = [], threading.Event(), threading.Event()
    box = []

    def creator():
        o = pybuf.Owner(release=lambda: ran.append(threading.get_ident()),
                        release_thread="creator", name="creator-ends")
        box.append(o)
        ready.set()
        go.wait()

    t = threading.Thread(target=creator)
    t.start()
    ready.wait()
    box.clear()                  # dies here: queued for the creator, which still runs
    assert ran == []
    go.set()
    t.join()
    assert ran == [t.ident]      # run as the creator thread ended, on it


def test_creator_release_after_creator_ended_is_kept_and_listed():
    ran, box = [], []

    def creator():
        box.append(pybuf.Owner(release=lambda: ran.append(1), release_thread="creator",
                               name="stranded"))

    t = threading.Thread(target=creator)
    t.start()
    t.join()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        box.clear()
    assert ran == []
    assert any(issubclass(x.category, ResourceWarning) and "stranded" in str(x.message)
               for x in w)
    assert "stranded" in [i.name for i in pybuf.live()]
    t2 = threading.Thread(target=pybuf.run_pending)   # an unrelated thread: never runs it
    t2.start()
    t2.join()
    assert ran == []

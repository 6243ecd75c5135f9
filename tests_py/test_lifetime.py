"""Lifetime rules 1-6 of API.md, and every consumer as the last survivor."""
import ctypes
import gc
import os
import re
import sys
import weakref

import numpy as np
import pytest

import pybuf
from fakehelp import Calls, describe

N = 16


def make(fake, n=N, shape=None, dtype="i", name=None):
    h = fake.create_ints(n)
    owner = pybuf.Owner(**h.owner_kwargs(), name=name)
    buf = owner.buffer(h.ptr, n if shape is None else shape, dtype)
    return h, owner, buf


def find_info(name):
    found = [i for i in pybuf.live() if i.name == name]
    assert len(found) <= 1
    return found[0] if found else None


# --- each consumer as the LAST survivor ----------------------------------------
#
# A consumer maker takes the Buffer (16 int32, shape (16,) or (4, 4)) and returns
# (view, get(view, k), set(view, k, value)) where k is the C element index.

def _np_slice(buf):
    return np.asarray(buf)[2:10], lambda v, k: v[k - 2], lambda v, k, x: v.__setitem__(k - 2, x)


def _np_view_dtype(buf):
    return (np.asarray(buf).view(np.uint32), lambda v, k: int(v[k:k + 1].view(np.int32)[0]),
            lambda v, k, x: v.__setitem__(k, x & 0xFFFFFFFF))


def _np_transpose(buf):
    return (np.asarray(buf).reshape(4, 4).T, lambda v, k: v[k % 4, k // 4],
            lambda v, k, x: v.__setitem__((k % 4, k // 4), x))


def _memoryview(buf):
    return memoryview(buf), lambda v, k: v[k], lambda v, k, x: v.__setitem__(k, x)


def _memoryview_slice(buf):
    return memoryview(buf)[1:], lambda v, k: v[k - 1], lambda v, k, x: v.__setitem__(k - 1, x)


def _memoryview_cast(buf):
    def get(v, k):
        return int.from_bytes(v[4 * k:4 * k + 4], sys.byteorder, signed=True)

    def set_(v, k, x):
        v[4 * k:4 * k + 4] = int(x).to_bytes(4, sys.byteorder, signed=True)

    return memoryview(buf).cast("B"), get, set_


def _memoryview_cast_from_slice(buf):
    m = memoryview(buf)
    try:
        return m.cast("B").cast("i"), lambda v, k: v[k], lambda v, k, x: v.__setitem__(k, x)
    finally:
        m.release()


def _frombuffer(buf):
    return (np.frombuffer(buf, dtype=np.int32), lambda v, k: v[k],
            lambda v, k, x: v.__setitem__(k, x))


def _ndarray_buffer(buf):
    # holds a reference to the Buffer, but no export
    return (np.ndarray((N,), dtype=np.int32, buffer=buf), lambda v, k: v[k],
            lambda v, k, x: v.__setitem__(k, x))


def _ctypes_from_buffer(buf):
    return ((ctypes.c_int32 * N).from_buffer(buf), lambda v, k: v[k],
            lambda v, k, x: v.__setitem__(k, x))


def _asarray_region(buf):
    r = buf.region(16, 8, "i")
    return np.asarray(r), lambda v, k: v[k - 4], lambda v, k, x: v.__setitem__(k - 4, x)


def _region_object(buf):
    r = buf.region(0, (4, 4), "i")
    return (r, lambda v, k: memoryview(v)[k // 4, k % 4],
            lambda v, k, x: memoryview(v).__setitem__((k // 4, k % 4), x))


def _from_dlpack(buf):
    return np.from_dlpack(buf), lambda v, k: v[k], lambda v, k, x: v.__setitem__(k, x)


def _np_array_of_memoryview(buf):
    return (np.asarray(memoryview(buf))[::-1], lambda v, k: v[N - 1 - k],
            lambda v, k, x: v.__setitem__(N - 1 - k, x))


CONSUMERS = {
    "numpy_slice": _np_slice,
    "numpy_view_dtype": _np_view_dtype,
    "numpy_transpose": _np_transpose,
    "memoryview": _memoryview,
    "memoryview_slice": _memoryview_slice,
    "memoryview_cast": _memoryview_cast,
    "memoryview_cast_twice": _memoryview_cast_from_slice,
    "np_frombuffer": _frombuffer,
    "np_ndarray_buffer": _ndarray_buffer,
    "ctypes_from_buffer": _ctypes_from_buffer,
    "asarray_region": _asarray_region,
    "region_object": _region_object,
    "from_dlpack": _from_dlpack,
    "asarray_memoryview_reversed": _np_array_of_memoryview,
}


@pytest.mark.parametrize("closed", [False, True], ids=["never_closed", "closed"])
@pytest.mark.parametrize("consumer", list(CONSUMERS), ids=list(CONSUMERS))
def test_last_survivor(fake, consumer, closed):
    h, owner, buf = make(fake)
    view, get, set_ = CONSUMERS[consumer](buf)
    if closed:
        owner.close()
        assert owner.closed
    wo = weakref.ref(owner)
    del owner, buf
    gc.collect()
    assert h.destroys == 0
    if closed:
        assert wo() is None or not wo().released
    if closed and consumer == "region_object":
        # a bare Buffer of a closed owner refuses new exports: nothing to read through
        with pytest.raises(BufferError):
            memoryview(view)
        del view, get, set_
        gc.collect()
        assert h.destroys == 1
        return
    assert get(view, 6) == 6
    set_(view, 6, -606)
    assert h.read(6) == -606
    assert get(view, 6) == -606
    h.write(7, 707)
    assert get(view, 7) == 707
    del view, get, set_
    gc.collect()
    assert h.destroys == 1
    gc.collect()
    assert h.destroys == 1


@pytest.mark.parametrize("consumer", ["numpy_slice", "memoryview", "np_frombuffer",
                                      "np_ndarray_buffer", "ctypes_from_buffer",
                                      "asarray_region"])
def test_last_survivor_released_without_gc(fake, consumer):
    h, owner, buf = make(fake)
    view, get, set_ = CONSUMERS[consumer](buf)
    owner.close()
    del owner, buf, get, set_
    assert h.destroys == 0
    gc.disable()
    try:
        del view
        assert h.destroys == 1
    finally:
        gc.enable()


# --- rule 1: every Buffer holds its Owner, every export holds the Buffer -------

def test_buffer_holds_owner(fake):
    h, owner, buf = make(fake)
    wo = weakref.ref(owner)
    del owner
    gc.collect()
    assert wo() is not None
    assert buf.owner is wo()
    assert h.destroys == 0


def test_export_holds_buffer(fake):
    h, owner, buf = make(fake)
    wb = weakref.ref(buf)
    m = memoryview(buf)
    assert m.obj is buf
    del buf
    gc.collect()
    assert wb() is not None
    assert wb().exports == 1


def test_ndarray_buffer_holds_reference_no_export(fake):
    h, owner, buf = make(fake)
    wb = weakref.ref(buf)
    a = np.ndarray((N,), dtype=np.int32, buffer=buf)
    assert buf.exports == 0
    assert owner.exports == 0
    del buf
    gc.collect()
    assert wb() is not None
    owner.close()
    assert h.destroys == 0
    a[0] = 12
    assert h.read(0) == 12
    del a
    assert h.destroys == 1


# --- rule 2 ----------------------------------------------------------------------

def test_close_without_buffers_releases_at_once(fake):
    h = fake.create_ints(4)
    owner = pybuf.Owner(**h.owner_kwargs())
    assert not owner.released
    owner.close()
    assert owner.closed and owner.released
    assert h.destroys == 1


def test_close_with_dead_buffers_releases_at_once(fake):
    h, owner, buf = make(fake)
    m = memoryview(buf)
    m.release()
    del buf, m
    owner.close()
    assert owner.released
    assert h.destroys == 1


def test_open_owner_without_buffers_not_released(fake):
    h, owner, buf = make(fake)
    del buf
    gc.collect()
    assert owner.buffers == 0
    assert not owner.released
    assert h.destroys == 0
    # it can still make buffers
    buf = owner.buffer(h.ptr, 4, "i")
    assert np.asarray(buf).tolist() == [0, 1, 2, 3]


def test_closed_owner_released_when_last_buffer_dies(fake):
    h, owner, buf = make(fake)
    buf2 = buf.region(0, 4, "i")
    owner.close()
    assert owner.closed and not owner.released
    del buf
    assert h.destroys == 0
    assert not owner.released
    del buf2
    assert owner.released
    assert h.destroys == 1


def test_garbage_owner_and_buffers_release(fake):
    h, owner, buf = make(fake)
    del owner
    assert h.destroys == 0
    del buf
    gc.collect()
    assert h.destroys == 1


def test_python_release_called_once(fake):
    c = Calls()
    h = fake.create_ints(4)
    owner = pybuf.Owner(release=c)
    buf = owner.buffer(h.ptr, 4, "i")
    m = memoryview(buf)
    owner.close()
    owner.close()
    assert c.calls == 0
    del buf
    assert c.calls == 0
    m.release()
    assert c.calls == 1
    owner.close()
    owner.close(strict=True)
    assert c.calls == 1


def test_borrowed_memory_release_none(fake):
    h = fake.create_ints(4)
    owner = pybuf.Owner()
    buf = owner.buffer(h.ptr, 4, "i")
    assert np.asarray(buf).tolist() == [0, 1, 2, 3]
    del buf
    owner.close()
    assert owner.released
    assert h.destroys == 0


class _CycleWrapper:
    def __init__(self, fake, n=N):
        self.h = fake.create_ints(n)
        self.seen = None
        self.owner = pybuf.Owner(release=self._release)
        self.buf = self.owner.buffer(self.h.ptr, n, "i")
        self.log = []

    def _release(self):
        # The cycle must still be intact here (PEP 442).
        self.log.append((self.h.destroys, type(self.owner).__name__,
                         type(self.buf).__name__, self.buf.nbytes))
        self.h.lib.fake_destroy(self.h.h)


def test_garbage_cycle_released_by_gc_with_wrapper_intact(fake):
    w = _CycleWrapper(fake)
    h, log = w.h, w.log
    a = np.asarray(w.buf)
    assert a[5] == 5
    del a
    del w
    assert h.destroys == 0  # only the collector can find it
    gc.collect()
    # The first collection runs the cycle's finalizers and keeps it whole; the
    # next one that finds it garbage releases, before clearing anything.
    assert h.destroys == 0
    gc.collect()
    assert h.destroys == 1
    assert log == [(0, "Owner", "Buffer", 4 * N)]


def test_garbage_cycle_with_live_export_waits(fake):
    w = _CycleWrapper(fake)
    h = w.h
    a = np.asarray(w.buf)[4:]
    del w
    gc.collect()
    # a holds the buffer: nothing of the cycle is garbage
    assert h.destroys == 0
    assert a[0] == 4
    del a
    gc.collect()
    gc.collect()
    assert h.destroys == 1


def test_garbage_cycle_through_memoryview_export_c_release(run_isolated):
    # wrapper -> memoryview (an export, GC-tracked) -> buffer -> owner; wrapper -> wrapper
    rc, out, err = run_isolated("""
        class W:
            def __init__(self):
                self.h = fake.create_ints(16)
                self.owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=self.h.h)
                self.buf = self.owner.buffer(self.h.ptr, 16, "i")
                self.view = memoryview(self.buf)
                self.arr = np.asarray(self.buf)
                self.me = self
        w = W(); h = w.h
        del w
        for _ in range(3):
            gc.collect()
        print("destroys", h.destroys)
    """)
    assert rc == 0, describe(rc, out, err)
    assert "destroys 1" in out


def test_garbage_cycle_through_export_python_release(run_isolated):
    # wrapper -> memoryview -> buffer -> owner -> release bound method -> wrapper.
    # An export is alive when the owner is finalized, so the release waits for the
    # export, which the collector drops while clearing the cycle: the wrapper need
    # not be intact then (rule 2), but the release runs exactly once and nothing
    # crashes; a failure inside it reaches sys.unraisablehook.
    rc, out, err = run_isolated("""
        from cycle_parts import ViewWrapper
        calls = []
        class W(ViewWrapper):
            def release(self):
                calls.append(1)
        w = W(fake); h = w.h
        del w
        for _ in range(3):
            gc.collect()
        print("calls", len(calls))
    """)
    assert rc == 0, describe(rc, out, err)
    assert "calls 1" in out


# --- rule 3: closed owners and buffers refuse new things ----------------------

def test_closed_owner_refuses_buffer(fake):
    h, owner, buf = make(fake)
    owner.close()
    with pytest.raises(BufferError):
        owner.buffer(h.ptr, 4, "i")
    with pytest.raises(BufferError):
        buf.region(0, 4, "i")


def test_released_owner_refuses_buffer(fake):
    h = fake.create_ints(4)
    owner = pybuf.Owner(**h.owner_kwargs())
    owner.close()
    assert owner.released
    with pytest.raises(BufferError):
        owner.buffer(h.ptr, 4, "i")


@pytest.mark.parametrize("entry", [
    "memoryview", "asarray", "array", "array_copy", "frombuffer", "asarray_dtype",
    "ascontiguousarray", "from_dlpack", "ndarray_buffer", "ctypes_from_buffer",
    "asanyarray", "array_float", "np_copy", "np_sum", "concatenate", "add",
])
def test_closed_buffer_refuses_exports(fake, entry):
    h, owner, buf = make(fake)
    live_view = np.asarray(buf)
    owner.close()
    fn = {
        "memoryview": lambda: memoryview(buf),
        "asarray": lambda: np.asarray(buf),
        "array": lambda: np.array(buf),
        "array_copy": lambda: np.array(buf, copy=True),
        "frombuffer": lambda: np.frombuffer(buf, dtype=np.int32),
        "asarray_dtype": lambda: np.asarray(buf, dtype=np.int32),
        "ascontiguousarray": lambda: np.ascontiguousarray(buf),
        "from_dlpack": lambda: np.from_dlpack(buf),
        "ndarray_buffer": lambda: np.ndarray((N,), np.int32, buffer=buf),
        "ctypes_from_buffer": lambda: (ctypes.c_int32 * N).from_buffer(buf),
        "asanyarray": lambda: np.asanyarray(buf),
        "array_float": lambda: np.array(buf, dtype=float),
        "np_copy": lambda: np.copy(buf),
        "np_sum": lambda: np.sum(buf),
        "concatenate": lambda: np.concatenate([buf, buf]),
        "add": lambda: np.add(buf, 1),
    }[entry]
    result = None
    # every entry point, NumPy's included, raises the buffer's own BufferError (rule 6)
    with pytest.raises(BufferError, match="is closed") as ei:
        result = fn()
    assert result is None
    assert type(ei.value) is BufferError, repr(ei.value)
    # the existing view still works on live memory
    assert h.destroys == 0
    live_view[0] = 99
    assert h.read(0) == 99
    assert buf.exports == 1


def test_closed_buffer_asarray_not_object_array(fake):
    h, owner, buf = make(fake)
    owner.close()
    try:
        a = np.asarray(buf)
    except Exception:
        return
    pytest.fail(f"np.asarray on a closed buffer returned {a.dtype} array")


# --- rule 4: strict close ---------------------------------------------------------

def test_strict_close_raises_with_counts_owner_unchanged(fake):
    h, owner, buf = make(fake)
    m1 = memoryview(buf)
    a = np.asarray(buf)
    d = np.from_dlpack(buf)
    with pytest.raises(BufferError) as ei:
        owner.close(strict=True)
    msg = str(ei.value)
    assert re.search(r"\b1\b", msg), msg   # one buffer
    assert re.search(r"\b3\b", msg), msg   # three exports
    assert not owner.closed
    assert not owner.released
    assert owner.buffers == 1 and owner.exports == 3
    # unchanged: still open, new exports and buffers work
    m2 = memoryview(buf)
    b2 = owner.buffer(h.ptr, 2, "i")
    assert h.destroys == 0
    del m1, m2, a, d, b2, buf
    gc.collect()
    owner.close(strict=True)
    assert h.destroys == 1


def test_strict_close_counts_buffer_without_exports(fake):
    h, owner, buf = make(fake)
    with pytest.raises(BufferError) as ei:
        owner.close(strict=True)
    msg = str(ei.value)
    assert re.search(r"\b1\b", msg) and re.search(r"\b0\b", msg), msg
    assert not owner.closed
    assert h.destroys == 0


def test_strict_close_without_buffers_releases_before_return(fake):
    c = Calls()
    owner = pybuf.Owner(release=c)
    owner.close(strict=True)
    assert c.calls == 1
    assert owner.closed and owner.released


def test_strict_close_on_already_closed_owner(fake):
    h, owner, buf = make(fake)
    owner.close()
    with pytest.raises(BufferError):
        owner.close(strict=True)
    assert owner.closed and not owner.released
    assert h.destroys == 0
    del buf
    assert h.destroys == 1
    owner.close(strict=True)
    assert h.destroys == 1


def test_strict_close_after_buffers_died_on_closed_owner(fake):
    h, owner, buf = make(fake)
    m = memoryview(buf)
    del buf
    owner.close()
    assert not owner.released
    m.release()
    owner.close(strict=True)
    assert owner.released
    assert h.destroys == 1


# --- rule 5: idempotent close; raising releases ---------------------------------

def test_close_idempotent(fake):
    h, owner, buf = make(fake)
    del buf
    for _ in range(3):
        owner.close()
    assert h.destroys == 1
    owner.close(strict=True)
    assert h.destroys == 1


def test_raising_release_propagates_from_close_not_retried(unraisable):
    c = Calls(exc=ValueError("boom-close"))
    owner = pybuf.Owner(release=c)
    with pytest.raises(ValueError, match="boom-close"):
        owner.close()
    assert c.calls == 1
    assert owner.released
    owner.close()
    owner.close(strict=True)
    del owner
    gc.collect()
    assert c.calls == 1
    assert unraisable == []


def test_raising_release_propagates_from_strict_close(unraisable):
    c = Calls(exc=KeyError("boom-strict"))
    owner = pybuf.Owner(release=c)
    with pytest.raises(KeyError, match="boom-strict"):
        owner.close(strict=True)
    assert c.calls == 1
    owner.close()
    assert c.calls == 1


def test_raising_release_from_dealloc_goes_to_unraisablehook(fake, unraisable):
    c = Calls(exc=ValueError("boom-dealloc"))
    h = fake.create_ints(4)
    owner = pybuf.Owner(release=c)
    buf = owner.buffer(h.ptr, 4, "i")
    del owner, buf
    gc.collect()
    assert c.calls == 1
    assert len(unraisable) == 1, unraisable
    exc_type, exc_value, _ = unraisable[0]
    assert exc_type is ValueError
    assert "boom-dealloc" in str(exc_value)


def test_raising_release_after_last_view_goes_to_unraisablehook(fake, unraisable):
    c = Calls(exc=RuntimeError("boom-view"))
    h = fake.create_ints(4)
    owner = pybuf.Owner(release=c)
    buf = owner.buffer(h.ptr, 4, "i")
    a = np.asarray(buf)
    owner.close()     # deferred: the release does not run inside this call
    assert c.calls == 0
    del buf, a
    gc.collect()
    assert c.calls == 1
    assert len(unraisable) == 1, unraisable
    assert unraisable[0][0] is RuntimeError
    owner.close()
    assert c.calls == 1


def test_raising_release_from_gc_cycle_goes_to_unraisablehook(fake, unraisable):
    class W:
        def __init__(self):
            self.calls = 0
            self.owner = pybuf.Owner(release=self.release)

        def release(self):
            self.calls += 1
            log.append(self.calls)
            raise ValueError("boom-cycle")

    log = []
    w = W()
    del w
    gc.collect()
    gc.collect()
    assert log == [1]
    assert len(unraisable) == 1
    assert unraisable[0][0] is ValueError


# --- Owner subclassing, weakrefs, context manager ---------------------------------

class MyOwner(pybuf.Owner):
    extra = "class-attr"

    def describe(self):
        return f"{self.name}:{self.buffers}"


def test_owner_subclass(fake):
    h = fake.create_ints(8)
    owner = MyOwner(**h.owner_kwargs(), name="sub")
    owner.note = "instance attribute"
    assert isinstance(owner, pybuf.Owner)
    buf = owner.buffer(h.ptr, 8, "i")
    assert type(buf.owner) is MyOwner
    assert owner.describe() == "sub:1"
    assert owner.note == "instance attribute"
    assert np.asarray(buf).sum() == 28
    del owner, buf
    gc.collect()
    assert h.destroys == 1


def test_weakref_owner_and_buffer(fake):
    h, owner, buf = make(fake)
    fired = []
    wo = weakref.ref(owner, lambda r: fired.append("owner"))
    wb = weakref.ref(buf, lambda r: fired.append("buffer"))
    assert wo() is owner and wb() is buf
    m = memoryview(buf)
    del owner, buf
    gc.collect()
    assert wo() is not None and wb() is not None
    assert fired == []
    m.release()
    del m
    gc.collect()
    assert wo() is None and wb() is None
    assert sorted(fired) == ["buffer", "owner"]
    assert h.destroys == 1


def test_context_manager_closes(fake):
    h = fake.create_ints(8)
    with pybuf.Owner(**h.owner_kwargs()) as o:
        assert isinstance(o, pybuf.Owner)
        buf = o.buffer(h.ptr, 8, "i")
        a = np.asarray(buf)
        assert not o.closed
    assert o.closed
    assert not o.released
    assert a[7] == 7
    del buf, a
    assert o.released
    assert h.destroys == 1


def test_context_manager_without_buffers_releases_on_exit(fake):
    h = fake.create_ints(8)
    with pybuf.Owner(**h.owner_kwargs()) as o:
        pass
    assert o.closed and o.released
    assert h.destroys == 1


def test_context_manager_release_error_propagates():
    c = Calls(exc=ValueError("boom-exit"))
    with pytest.raises(ValueError, match="boom-exit"):
        with pybuf.Owner(release=c):
            pass
    assert c.calls == 1


def test_fork_error_is_runtime_error():
    assert issubclass(pybuf.ForkError, RuntimeError)


def test_context_manager_closes_on_exception(fake):
    h = fake.create_ints(8)
    with pytest.raises(ZeroDivisionError):
        with pybuf.Owner(**h.owner_kwargs()) as o:
            1 / 0
    assert o.closed
    assert h.destroys == 1


# --- counters -----------------------------------------------------------------------

def test_exports_and_buffers_counters(fake):
    h, owner, buf = make(fake, shape=(4, 4))
    assert owner.buffers == 1 and owner.exports == 0 and buf.exports == 0
    a = np.asarray(buf)
    assert buf.exports == 1 and owner.exports == 1
    s = a[1:, ::2].T      # derived views share the export
    assert buf.exports == 1
    m = memoryview(buf)
    assert buf.exports == 2
    m2 = m[1:]            # a memoryview slice shares the managed buffer
    assert buf.exports == 2
    r = buf.region(16, 4, "i")
    assert owner.buffers == 2
    assert r.exports == 0 and owner.exports == 2
    ra = np.asarray(r)
    assert r.exports == 1 and buf.exports == 2 and owner.exports == 3
    nd = np.ndarray((16,), np.int32, buffer=buf)
    assert buf.exports == 2
    del a
    assert buf.exports == 2       # s still holds the array's export; m
    del s
    assert buf.exports == 1       # m (and m2, same managed buffer)
    m.release()                   # m2 keeps the managed buffer exported
    assert buf.exports == 1
    m2.release()
    assert buf.exports == 0
    del ra
    assert r.exports == 0 and owner.exports == 0
    del r
    gc.collect()
    assert owner.buffers == 1
    del nd, buf
    gc.collect()
    assert owner.buffers == 0


# --- pybuf.live() -----------------------------------------------------------------

def test_live_records(fake, no_trace):
    h = fake.create_ints(16)
    owner = pybuf.Owner(**h.owner_kwargs(), name="live-rec-1")
    b1 = owner.buffer(h.ptr, 16, "i")
    b2 = owner.buffer(h.ptr, 8, "B")
    m = memoryview(b1)
    info = find_info("live-rec-1")
    assert isinstance(info, pybuf.OwnerInfo)
    assert info.name == "live-rec-1"
    assert info.closed is False
    assert info.buffers == 2
    assert info.exports == 1
    assert info.nbytes == 64 + 8
    assert info.created_at is None
    owner.close()
    info = find_info("live-rec-1")
    assert info is not None and info.closed is True
    del b2
    assert find_info("live-rec-1").nbytes == 64
    del m, b1
    gc.collect()
    assert find_info("live-rec-1") is None


def test_live_alloc_nbytes(no_trace):
    b = pybuf.alloc((3, 5), "d", name="live-alloc-1")
    info = find_info("live-alloc-1")
    assert info is not None
    assert info.nbytes == 3 * 5 * 8
    r = b.region(0, 2, "d")
    assert find_info("live-alloc-1").nbytes == 120   # allocation size, not a sum
    del b, r
    gc.collect()
    assert find_info("live-alloc-1") is None


def test_live_unreleased_after_close_has_no_buffers_gone(fake, no_trace):
    h = fake.create_ints(4)
    owner = pybuf.Owner(**h.owner_kwargs(), name="live-rec-2")
    assert find_info("live-rec-2") is not None
    assert find_info("live-rec-2").buffers == 0
    owner.close()
    assert find_info("live-rec-2") is None


def test_trace_created_at_and_strict_message(fake, no_trace):
    pybuf.trace(True)
    h = fake.create_ints(4)
    owner = pybuf.Owner(**h.owner_kwargs(), name="traced-1")
    buf = owner.buffer(h.ptr, 4, "i")
    m = memoryview(buf)
    info = find_info("traced-1")
    assert info.created_at is not None
    here = os.path.basename(__file__)
    assert here in str(info.created_at)
    with pytest.raises(BufferError) as ei:
        owner.close(strict=True)
    assert here in str(ei.value)
    pybuf.trace(False)
    del m, buf
    owner.close(strict=True)
    assert h.destroys == 1



class _Handle:
    """Stands for a C handle object of a binding: not the wrapper, no reference to it."""

    def __init__(self, released):
        self.value, self.released = 7, released

    def destroy(self):
        self.released.append(self.value)


def _release_closure(released):
    handle = [7]
    return lambda: released.append(handle[0])


def _release_defaults(released):
    return lambda handle=7, released=released: released.append(handle)


def _release_method(released):
    return _Handle(released).destroy


@pytest.mark.parametrize("make_release", [_release_closure, _release_defaults, _release_method],
                         ids=["closure", "default_args", "bound_method_of_handle"])
def test_cycle_export_python_release(unraisable, make_release):
    """Rule 2, a garbage cycle that still holds an export: the release runs when the last
    export goes, i.e. while the collector clears the cycle, after it may have cleared the
    objects only the garbage refers to, the release callable and what it holds included.
    A Python release that follows the docs (it holds the handle, not the wrapper) must
    still run intact. Found by the state machine (test_statemachine.py, "cycle_view")."""
    released = []

    class Wrapper:
        pass

    def make():
        # Made before the wrapper, the release comes first in the collector's list of
        # garbage: it is cleared before the wrapper's view lets go of the last export.
        release = make_release(released)
        w = Wrapper()
        w.owner = pybuf.Owner(release=release)
        del release
        w.mem = pybuf.alloc(4, "i")
        w.buf = w.owner.buffer(w.mem.address, 4, "i")
        w.view = memoryview(w.buf)      # the export the cycle keeps
        w.me = w

    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            make()
            gc.collect()
    finally:
        gc.enable()
    assert [(u[0].__name__, str(u[1])) for u in unraisable] == []
    assert released == [7] * 10

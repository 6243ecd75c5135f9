"""SCENARIO.md, "What must hold": one test (or more) per bullet."""
import ctypes
import gc
import re

import numpy as np
import pytest

import pybuf


def make(fake, n=16, shape=None, dtype="i"):
    h = fake.create_ints(n)
    owner = pybuf.Owner(**h.owner_kwargs())
    buf = owner.buffer(h.ptr, n if shape is None else shape, dtype)
    return h, owner, buf


# --- NumPy operations on the live C memory, zero-copy -------------------------

def test_asarray_is_zero_copy_and_typed(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    assert a.dtype == np.int32
    assert a.shape == (16,)
    assert a.ctypes.data == h.ptr
    assert a.flags.writeable
    assert a.tolist() == list(range(16))


def test_assign_all(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    a[:] = np.arange(16) * 3
    assert h.ints() == [3 * i for i in range(16)]
    a[:] = 7
    assert h.ints() == [7] * 16


def test_strided_inplace_add(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    a[::2] += 10
    assert h.ints() == [i + 10 if i % 2 == 0 else i for i in range(16)]


def test_view_float64_on_even_int32(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    f = a.view(np.float64)
    assert f.shape == (8,)
    assert f.ctypes.data == h.ptr
    assert np.shares_memory(f, a)
    f[0] = 1.5
    f[7] = -2.25
    assert ctypes.c_double.from_address(h.ptr).value == 1.5
    assert ctypes.c_double.from_address(h.ptr + 56).value == -2.25
    # the int32 view sees the same bytes
    assert a[:2].tobytes() == np.float64(1.5).tobytes()


def test_slice_2_8(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    s = a[2:8]
    assert s.tolist() == [2, 3, 4, 5, 6, 7]
    assert s.ctypes.data == h.ptr + 8
    s[:] = -1
    assert h.ints() == [0, 1] + [-1] * 6 + list(range(8, 16))


def test_transpose_2d(fake):
    h, owner, buf = make(fake, shape=(4, 4))
    a = np.asarray(buf)
    assert a.shape == (4, 4)
    t = a.T
    assert t.shape == (4, 4)
    assert t.strides == (4, 16)
    assert t[1, 2] == a[2, 1] == 9
    t[3, 0] = 100  # a[0, 3], C element 3
    assert h.read(3) == 100
    assert np.shares_memory(t, a)


def test_dot(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    expected = sum(i * i for i in range(16))
    assert np.dot(a, a) == expected
    assert a.dot(a) == expected
    h.write(0, 5)
    assert np.dot(a, a) == expected + 25


def test_dot_2d(fake):
    h, owner, buf = make(fake, shape=(4, 4))
    a = np.asarray(buf)
    ref = np.arange(16, dtype=np.int32).reshape(4, 4)
    assert (a.dot(a) == ref.dot(ref)).all()
    assert (np.dot(a, a.T) == ref.dot(ref.T)).all()


def test_extract(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    mask = a % 3 == 0
    assert np.extract(mask, a).tolist() == [0, 3, 6, 9, 12, 15]
    h.write(3, 42)
    assert np.extract(a > 40, a).tolist() == [42]


def test_copyto(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    b = np.arange(100, 116, dtype=np.int32)
    np.copyto(a, b)
    assert h.ints() == list(range(100, 116))
    np.copyto(a, 0, where=np.arange(16) >= 8)
    assert h.ints() == list(range(100, 108)) + [0] * 8


def test_sum_sees_c_writes(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    assert np.sum(a) == 120
    h.write(15, 1015)
    assert np.sum(a) == 120 + 1000
    assert a.sum() == 1120


def test_writes_visible_through_memoryview_and_c(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    m = memoryview(buf)
    a[4] = 444
    assert m[4] == 444
    assert h.read(4) == 444
    m[5] = 555
    assert a[5] == 555
    assert h.read(5) == 555


# --- dropping things never frees under a live view ----------------------------

class Wrapper:
    """What a user's binding looks like: wraps a library handle."""

    def __init__(self, fake, n=16):
        self.h = fake.create_ints(n)
        self.owner = pybuf.Owner(**self.h.owner_kwargs())
        self.buf = self.owner.buffer(self.h.ptr, n, "i")

    def array(self):
        return np.asarray(self.buf)

    def destroy(self):
        self.owner.close()


def test_drop_wrapper_keeps_view_alive(fake):
    w = Wrapper(fake)
    h = w.h
    a = w.array()
    del w
    gc.collect()
    assert h.destroys == 0
    a[:] = 9
    assert h.ints() == [9] * 16
    del a
    gc.collect()
    assert h.destroys == 1


def test_drop_owner_and_buffer_keeps_view_alive(fake):
    h, owner, buf = make(fake)
    a = np.asarray(buf)[3:]
    del owner
    gc.collect()
    assert h.destroys == 0
    del buf
    gc.collect()
    assert h.destroys == 0
    assert a[0] == 3
    a[0] = 33
    assert h.read(3) == 33
    del a
    gc.collect()
    assert h.destroys == 1


def test_binding_destroy_defers_release(fake):
    w = Wrapper(fake)
    h = w.h
    a = w.array()
    w.destroy()
    assert w.owner.closed
    assert not w.owner.released
    assert h.destroys == 0
    assert a.sum() == 120
    a += 1
    assert h.read(0) == 1
    del w
    gc.collect()
    assert h.destroys == 0
    del a
    assert h.destroys == 1


def test_release_right_after_last_view_any_kind(fake):
    h, owner, buf = make(fake, shape=(4, 4))
    a = np.asarray(buf)
    t = a.T[1:]
    m = memoryview(buf)[1:]
    f = np.frombuffer(buf, dtype=np.float32)
    owner.close()
    del owner, buf
    del a
    assert h.destroys == 0
    del m
    assert h.destroys == 0
    del f
    assert h.destroys == 0
    assert t[0, 0] == 1
    del t   # the last view: no gc.collect needed, no cycle involved
    assert h.destroys == 1


def test_release_exactly_once_never_closed(fake):
    before = fake.total_destroys()
    h, owner, buf = make(fake)
    a = np.asarray(buf)
    m = memoryview(a)
    del owner, buf, a
    gc.collect()
    assert h.destroys == 0
    m.release()
    assert h.destroys == 1
    del m
    gc.collect()
    assert h.destroys == 1
    assert fake.total_destroys() == before + 1


# --- a binding that must destroy now gets a clear BufferError ------------------

def test_strict_close_names_holders(fake):
    h, owner, buf = make(fake)
    buf2 = owner.buffer(h.ptr + 8, 4, "i")
    a = np.asarray(buf)
    m = memoryview(buf)
    m2 = memoryview(buf2)
    assert owner.buffers == 2
    assert owner.exports == 3
    with pytest.raises(BufferError) as ei:
        owner.close(strict=True)
    msg = str(ei.value)
    assert re.search(r"\b2\b", msg), msg
    assert re.search(r"\b3\b", msg), msg
    assert "buffer" in msg.lower()
    assert "export" in msg.lower()
    assert not owner.closed
    assert not owner.released
    assert h.destroys == 0
    a[0] = 5
    assert h.read(0) == 5
    del a, m, m2, buf, buf2
    gc.collect()
    owner.close(strict=True)
    assert owner.closed and owner.released
    assert h.destroys == 1


def test_nothing_segfaults_after_destroy_sequence(run_isolated):
    rc, out, err = run_isolated("""
        h = fake.create_ints(1024)
        owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h)
        buf = owner.buffer(h.ptr, 1024, "i")
        a = np.asarray(buf)
        views = [a[::3], a.view(np.float64), a.reshape(32, 32).T, memoryview(buf)[10:],
                 np.frombuffer(buf, dtype=np.uint8), np.ndarray((1024,), np.int32, buffer=buf)]
        owner.close()
        try:
            owner.close(strict=True)
        except BufferError:
            pass
        del owner, buf, a
        gc.collect()
        total = 0
        for v in views:
            total += int(np.asarray(v).astype(np.int64).sum()) & 1
            np.asarray(v)[...] = np.asarray(v)[...]
        assert h.destroys == 0
        del v
        while views:
            views.pop()
            gc.collect()
        print("destroys", h.destroys)
    """)
    assert rc == 0, describe(rc, out, err)
    assert "destroys 1" in out


def describe(rc, out, err):
    return f"rc={rc}\nstdout:\n{out}\nstderr:\n{err}"

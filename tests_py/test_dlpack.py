"""DLPack: __dlpack__ / __dlpack_device__ and np.from_dlpack."""
import ctypes
import gc

import numpy as np
import pytest

import pybuf

_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.argtypes = [ctypes.py_object]
_get_name.restype = ctypes.c_char_p


def capsule_name(cap):
    assert type(cap).__name__ == "PyCapsule"
    return _get_name(cap).decode()


def make(fake, n=16, shape=None, readonly=False):
    h = fake.create_ints(n)
    owner = pybuf.Owner(**h.owner_kwargs())
    buf = owner.buffer(h.ptr, n if shape is None else shape, "i", readonly=readonly)
    return h, owner, buf


def test_device(fake):
    h, owner, buf = make(fake)
    assert buf.__dlpack_device__() == (1, 0)
    assert tuple(int(x) for x in buf.__dlpack_device__()) == (1, 0)


def test_from_dlpack_shares_memory(fake):
    h, owner, buf = make(fake, shape=(4, 4))
    a = np.from_dlpack(buf)
    assert a.shape == (4, 4)
    assert a.dtype == np.int32
    assert a.ctypes.data == h.ptr
    assert a.flags.writeable
    a[1, 1] = 55
    assert h.read(5) == 55
    h.write(6, 66)
    assert a[1, 2] == 66


def test_from_dlpack_strided(fake):
    h = fake.create_ints(16)
    buf = pybuf.Owner().buffer(h.ptr, (4, 4), "i", strides=(4, 16))
    a = np.from_dlpack(buf)
    assert a.strides == (4, 16)
    assert a[1, 2] == 9


class CopyOf:
    """Asks for a copy whatever NumPy passes (NumPy 1.26 has no copy=)."""

    def __init__(self, buf):
        self.buf = buf

    def __dlpack__(self, **kw):
        return self.buf.__dlpack__(copy=True)

    def __dlpack_device__(self):
        return self.buf.__dlpack_device__()


@pytest.mark.parametrize("strides", [(6,), (4, 6)])
def test_strides_between_items_refused_unless_copy(fake, strides):
    # DLPack counts strides in items: 6 bytes apart is 1.5 int32 items.
    h = fake.create_ints(16)
    shape = (3,) if len(strides) == 1 else (2, 3)
    for _ in range(2):  # the second layout comes from the shim's cache of Go's verdicts
        buf = pybuf.Owner().buffer(h.ptr, shape, "i", strides=strides)
        with pytest.raises(BufferError, match="not multiples of the itemsize"):
            buf.__dlpack__(max_version=(1, 0))
        assert buf.exports == 0
        a = np.from_dlpack(CopyOf(buf))
        assert a.shape == shape
        assert a.tobytes() == memoryview(buf).tobytes()
        assert buf.exports == 0  # a copy holds no export


def test_region_strides_between_items_refused(fake):
    h = fake.create_ints(16)
    buf = pybuf.Owner().buffer(h.ptr, 16, "i")
    r = buf.region(0, 5, "i", strides=(10,))
    with pytest.raises(BufferError, match="not multiples of the itemsize"):
        r.__dlpack__()
    assert np.from_dlpack(buf.region(0, 5, "i", strides=(12,)))[1] == 3


@pytest.mark.parametrize("dtype, np_dtype", [("d", np.float64), ("B", np.uint8),
                                             ("e", np.float16), ("?", np.bool_),
                                             ("Zf", np.complex64), ("q", np.int64)])
def test_from_dlpack_dtypes(fake, dtype, np_dtype):
    h = fake.create_ints(16)
    buf = pybuf.Owner().buffer(h.ptr, 4, dtype)
    a = np.from_dlpack(buf)
    assert a.dtype == np_dtype
    assert a.ctypes.data == h.ptr


def test_export_counts_while_array_lives(fake):
    h, owner, buf = make(fake)
    a = np.from_dlpack(buf)
    assert buf.exports == 1
    assert owner.exports == 1
    b = np.from_dlpack(buf)
    assert buf.exports == 2
    s = a[3:]
    del a
    gc.collect()
    assert buf.exports == 2
    del s
    gc.collect()
    assert buf.exports == 1
    del b
    gc.collect()
    assert buf.exports == 0


def test_release_waits_for_dlpack_array(fake):
    h, owner, buf = make(fake)
    a = np.from_dlpack(buf)
    owner.close()
    del buf, owner
    gc.collect()
    assert h.destroys == 0
    assert a.sum() == 120
    a[:] = 1
    assert h.ints() == [1] * 16
    del a
    gc.collect()
    assert h.destroys == 1


def test_strict_close_counts_dlpack(fake):
    h, owner, buf = make(fake)
    cap = buf.__dlpack__(max_version=(1, 0))
    del buf
    gc.collect()
    with pytest.raises(BufferError):
        owner.close(strict=True)
    assert owner.exports == 1
    del cap
    gc.collect()
    assert owner.exports == 0
    owner.close(strict=True)
    assert h.destroys == 1


def test_capsule_names(fake):
    h, owner, buf = make(fake)
    cap = buf.__dlpack__(max_version=(1, 0))
    assert capsule_name(cap) == "dltensor_versioned"
    cap2 = buf.__dlpack__(max_version=(1, 3))
    assert capsule_name(cap2) == "dltensor_versioned"
    legacy = buf.__dlpack__()
    assert capsule_name(legacy) == "dltensor"
    legacy2 = buf.__dlpack__(max_version=(0, 8))
    assert capsule_name(legacy2) == "dltensor"
    assert buf.exports == 4
    del cap, cap2, legacy, legacy2
    gc.collect()
    assert buf.exports == 0


def test_unconsumed_capsule_releases_export(fake):
    h, owner, buf = make(fake)
    for kw in ({}, {"max_version": (1, 0)}):
        cap = buf.__dlpack__(**kw)
        assert buf.exports == 1
        del cap
        assert buf.exports == 0
    owner.close()
    del buf
    assert h.destroys == 1


def test_unconsumed_capsule_holds_memory(fake):
    h, owner, buf = make(fake)
    cap = buf.__dlpack__(max_version=(1, 0))
    owner.close()
    del owner, buf
    gc.collect()
    assert h.destroys == 0
    a = np.from_dlpack(type("C", (), {"__dlpack__": lambda self, **kw: cap,
                                      "__dlpack_device__": lambda self: (1, 0)})())
    del cap
    assert a[3] == 3
    del a
    gc.collect()
    assert h.destroys == 1


def test_readonly_versioned(fake):
    h, owner, buf = make(fake, readonly=True)
    cap = buf.__dlpack__(max_version=(1, 0))
    assert capsule_name(cap) == "dltensor_versioned"
    del cap
    a = np.from_dlpack(buf)
    assert not a.flags.writeable
    assert a.ctypes.data == h.ptr
    with pytest.raises(ValueError):
        a[0] = 1


def test_readonly_legacy_refused_unless_copy(fake):
    h, owner, buf = make(fake, readonly=True)
    with pytest.raises(BufferError):
        buf.__dlpack__()
    with pytest.raises(BufferError):
        buf.__dlpack__(max_version=(0, 8))
    assert buf.exports == 0
    cap = buf.__dlpack__(copy=True)
    assert capsule_name(cap) == "dltensor"
    del cap
    gc.collect()
    assert buf.exports == 0


def test_closed_buffer_refuses_dlpack(fake):
    h, owner, buf = make(fake)
    owner.close()
    with pytest.raises(BufferError):
        buf.__dlpack__()
    with pytest.raises(BufferError):
        buf.__dlpack__(max_version=(1, 0))
    with pytest.raises(BufferError):
        np.from_dlpack(buf)
    assert buf.__dlpack_device__() == (1, 0)


def test_dlpack_alloc_and_region(fake):
    b = pybuf.alloc((4, 4), "d")
    r = b.region(64, (2, 4), "d")   # rows 2 and 3
    a = np.from_dlpack(r)
    a[:] = 3.0
    assert np.asarray(b)[2:].sum() == 24.0
    assert np.asarray(b)[:2].sum() == 0.0

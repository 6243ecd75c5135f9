"""Layouts: formats and dtypes, shape, strides, readonly, region(), alloc()."""
import ctypes
import gc
import math
import struct

import numpy as np
import pytest

import pybuf


@pytest.fixture
def big(fake):
    """A fake handle with 1024 int32 (0..1023)."""
    return fake.create_ints(1024)


def borrowed(h, shape, dtype="B", **kw):
    return pybuf.Owner().buffer(h.ptr, shape, dtype, **kw)


def np_roundtrip_dtype(dt):
    """The dtype NumPy itself gets back from its own PEP 3118 export of `dt`."""
    return np.asarray(memoryview(np.zeros(1, dt))).dtype


# --- string formats ------------------------------------------------------------------

@pytest.mark.parametrize("fmt, itemsize, np_dtype", [
    ("B", 1, np.uint8),
    ("b", 1, np.int8),
    ("i", 4, np.intc),
    ("<i", 4, np.dtype("<i4")),
    ("=h", 2, np.int16),
    ("<d", 8, np.dtype("<f8")),
    ("d", 8, np.float64),
    ("f", 4, np.float32),
    ("Zd", 16, np.complex128),
    ("Zf", 8, np.complex64),
    ("e", 2, np.float16),
    ("?", 1, np.bool_),
    ("q", 8, np.longlong),
    ("<Q", 8, np.dtype("<u8")),
])
def test_scalar_formats(big, fmt, itemsize, np_dtype):
    buf = borrowed(big, 6, fmt)
    assert buf.format == fmt
    assert buf.itemsize == itemsize
    if fmt[0] not in "Z":
        assert buf.itemsize == struct.calcsize(fmt)
    assert buf.nbytes == 6 * itemsize
    a = np.asarray(buf)
    assert a.dtype == np.dtype(np_dtype)
    assert a.dtype.itemsize == buf.itemsize
    assert a.shape == (6,)
    assert a.ctypes.data == big.ptr
    m = memoryview(buf)
    assert m.format == fmt
    assert m.itemsize == itemsize


def test_struct_format_T(big):
    fmt = "T{<i:x:<d:y:}"
    buf = borrowed(big, 4, fmt)
    assert buf.format == fmt
    assert buf.itemsize == 12          # standard sizes, no padding
    assert buf.nbytes == 48
    a = np.asarray(buf)
    assert a.dtype.names == ("x", "y")
    assert a.dtype.itemsize == buf.itemsize
    assert a.dtype["x"] == np.dtype("<i4") and a.dtype["y"] == np.dtype("<f8")
    assert a.dtype.fields["y"][1] == 4
    assert a["x"][0] == 0
    a["x"][1] = 77
    assert big.read(3) == 77           # record 1 starts at byte 12


def test_subarray_format_string(big):
    buf = borrowed(big, 3, "(2,3)d")
    assert buf.nbytes == 3 * 48
    a = np.asarray(buf)
    assert a.shape == (3, 2, 3)
    assert a.dtype == np.float64
    a[1, 1, 2] = 2.5
    # element (1, 1, 2) is double number 6 + 3 + 2 = 11
    assert ctypes.c_double.from_address(big.ptr + 11 * 8).value == 2.5


def test_numpy_style_string_dtype(big):
    # not valid PEP 3118 formats: handed to numpy.dtype()
    buf = borrowed(big, 4, "<i8")
    assert buf.itemsize == 8
    assert np.asarray(buf).dtype == np.dtype("<i8")
    buf = borrowed(big, 4, "float32")
    assert buf.itemsize == 4
    assert np.asarray(buf).dtype == np.float32


@pytest.mark.parametrize("dt", [
    np.dtype(np.int32), np.dtype("<u2"), np.dtype(">i4"), np.dtype(np.float16),
    np.dtype(np.complex64), np.dtype(np.bool_),
    np.dtype([("x", "<i4"), ("y", "<f8")]),
    np.dtype([("x", "<i4"), ("y", "<f8")], align=True),
    np.dtype([("a", "u1"), ("b", "<i4", (2,)), ("c", [("d", "<f4"), ("e", "u1")])]),
    np.dtype({"names": ["p", "q"], "formats": ["<i4", "<i4"], "offsets": [0, 8],
              "itemsize": 12}),
], ids=lambda d: str(d))
def test_numpy_dtypes(big, dt):
    buf = borrowed(big, 5, dt)
    assert buf.itemsize == dt.itemsize
    assert buf.nbytes == 5 * dt.itemsize
    a = np.asarray(buf)
    assert a.dtype == np_roundtrip_dtype(dt)
    assert a.dtype == dt
    assert a.dtype.itemsize == buf.itemsize
    assert a.shape == (5,)
    assert a.ctypes.data == big.ptr
    # exported with the format NumPy itself produces
    assert buf.format == memoryview(np.zeros(1, dt)).format


@pytest.mark.parametrize("dt", [np.float16, np.int64, np.uint8, np.complex128])
def test_numpy_scalar_types(big, dt):
    buf = borrowed(big, 4, dt)
    assert np.asarray(buf).dtype == np.dtype(dt)
    assert buf.itemsize == np.dtype(dt).itemsize


def test_numpy_subarray_dtype_adds_to_shape(big):
    dt = np.dtype(("<f8", (2, 3)))
    buf = borrowed(big, 4, dt)
    assert buf.shape == (4, 2, 3)
    assert buf.ndim == 3
    assert buf.itemsize == 8
    assert buf.nbytes == 4 * 48
    a = np.asarray(buf)
    assert a.shape == (4, 2, 3)
    assert a.dtype == np.float64
    buf = borrowed(big, (2, 2), np.dtype(("<i4", 3)))
    assert buf.shape == (2, 2, 3)
    assert np.asarray(buf)[1, 1].tolist() == [9, 10, 11]


# --- shape ------------------------------------------------------------------------

def test_shape_int_and_tuple(big):
    b1 = borrowed(big, 16, "i")
    assert b1.shape == (16,) and b1.ndim == 1
    b2 = borrowed(big, (16,), "i")
    assert b2.shape == (16,)
    b3 = borrowed(big, (4, 2, 2), "i")
    assert b3.shape == (4, 2, 2) and b3.ndim == 3
    assert b3.strides == (16, 8, 4)
    assert np.asarray(b3)[3, 1, 1] == 15


def test_shape_zero_dim(big):
    b = borrowed(big, (), "i")
    assert b.shape == () and b.ndim == 0
    assert b.nbytes == 4
    a = np.asarray(b)
    assert a.shape == () and a[()] == 0


def test_shape_with_zero_extent(big):
    b = borrowed(big, (0, 4), "i")
    assert b.nbytes == 0
    assert np.asarray(b).shape == (0, 4)


# --- strides ----------------------------------------------------------------------

def test_default_strides_c_contiguous(big):
    b = borrowed(big, (3, 4, 5), "d")
    assert b.strides == (160, 40, 8)
    assert np.asarray(b).flags.c_contiguous


def test_fortran_strides(big):
    b = borrowed(big, (4, 4), "i", strides=(4, 16))
    a = np.asarray(b)
    assert a.strides == (4, 16)
    assert a.flags.f_contiguous
    assert a[1, 2] == 1 + 4 * 2
    assert b.nbytes == 64


def test_gapped_strides(big):
    b = borrowed(big, (3,), "i", strides=(12,))
    assert np.asarray(b).tolist() == [0, 3, 6]
    assert b.nbytes == 12
    m = memoryview(b)
    assert m.strides == (12,)
    assert m.tolist() == [0, 3, 6]


def test_negative_strides_address_is_first_element(big):
    b = pybuf.Owner().buffer(big.ptr + 15 * 4, 16, "i", strides=(-4,))
    assert b.address == big.ptr + 60
    assert b.strides == (-4,)
    a = np.asarray(b)
    assert a.tolist() == list(range(15, -1, -1))
    a[0] = -15
    assert big.read(15) == -15
    assert memoryview(b)[15] == 0


def test_negative_strides_2d(big):
    # rows reversed
    b = pybuf.Owner().buffer(big.ptr + 12 * 4, (4, 4), "i", strides=(-16, 4))
    a = np.asarray(b)
    assert a[0].tolist() == [12, 13, 14, 15]
    assert a[3].tolist() == [0, 1, 2, 3]


def test_zero_strides(big):
    b = borrowed(big, (3, 4), "i", strides=(0, 4))
    a = np.asarray(b)
    assert a.tolist() == [[0, 1, 2, 3]] * 3


# --- readonly -----------------------------------------------------------------------

def _get_writable_buffer(obj):
    """PyObject_GetBuffer(obj, PyBUF_WRITABLE): raises what the exporter raises."""
    view = ctypes.create_string_buffer(256)   # larger than a Py_buffer
    f = ctypes.pythonapi.PyObject_GetBuffer
    f.argtypes = [ctypes.py_object, ctypes.c_void_p, ctypes.c_int]
    f.restype = ctypes.c_int
    rel = ctypes.pythonapi.PyBuffer_Release
    rel.argtypes = [ctypes.c_void_p]
    rel.restype = None
    PyBUF_WRITABLE = 0x0001
    f(obj, ctypes.addressof(view), PyBUF_WRITABLE)
    rel(ctypes.addressof(view))


def test_readonly(big):
    b = borrowed(big, 16, "i", readonly=True)
    assert b.readonly is True
    a = np.asarray(b)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 1
    with pytest.raises(ValueError):
        a.setflags(write=True)
    m = memoryview(b)
    assert m.readonly
    with pytest.raises(TypeError):
        m[0] = 1
    with pytest.raises(BufferError):
        _get_writable_buffer(b)
    with pytest.raises(TypeError):
        (ctypes.c_int32 * 16).from_buffer(b)
    assert big.read(0) == 0
    assert b.exports == 2


def test_writable_request_on_writable_buffer(big):
    b = borrowed(big, 16, "i")
    assert b.readonly is False
    _get_writable_buffer(b)
    assert b.exports == 0


# --- attributes -----------------------------------------------------------------

@pytest.mark.parametrize("shape, fmt, strides", [
    (16, "i", None), ((4, 4), "i", None), ((2, 3), "d", None), ((4, 4), "i", (4, 16)),
    ((8,), "h", (-2,)), ((), "Zd", None), ((2, 2), "T{<i:x:<d:y:}", None),
])
def test_memoryview_layout_equals_buffer(big, shape, fmt, strides):
    if strides and strides[0] < 0:
        addr = big.ptr + 14
    else:
        addr = big.ptr
    b = pybuf.Owner().buffer(addr, shape, fmt, strides=strides)
    m = memoryview(b)
    assert m.format == b.format
    assert m.itemsize == b.itemsize
    assert m.ndim == b.ndim
    assert m.shape == b.shape
    assert m.strides == b.strides
    assert m.readonly == b.readonly
    assert m.nbytes == b.nbytes
    assert b.nbytes == b.itemsize * math.prod(b.shape)
    assert b.address == addr
    assert isinstance(b.shape, tuple) and isinstance(b.strides, tuple)


def test_buffer_attributes(fake):
    h = fake.create_ints(16)
    owner = pybuf.Owner(**h.owner_kwargs(), name="attrs")
    b = owner.buffer(h.ptr, (2, 8), "i")
    assert b.address == h.ptr
    assert b.nbytes == 64
    assert b.shape == (2, 8)
    assert b.strides == (32, 4)
    assert b.format == "i"
    assert b.itemsize == 4
    assert b.ndim == 2
    assert b.readonly is False
    assert b.owner is owner
    assert b.exports == 0
    assert owner.name == "attrs"
    assert owner.closed is False and owner.released is False
    assert isinstance(repr(b), str) and isinstance(repr(owner), str)


def test_wrap_is_owner_with_one_buffer(fake):
    h = fake.create_ints(16)
    b = pybuf.wrap(h.ptr, 16, "i", **h.owner_kwargs(), name="wrapped")
    assert isinstance(b, pybuf.Buffer)
    assert isinstance(b.owner, pybuf.Owner)
    assert b.owner.name == "wrapped"
    assert b.owner.buffers == 1
    assert np.asarray(b).sum() == 120
    a = np.asarray(b)
    del b
    gc.collect()
    assert h.destroys == 0
    del a
    gc.collect()
    assert h.destroys == 1


def test_wrap_readonly_and_strides(big):
    b = pybuf.wrap(big.ptr, (4, 4), "i", strides=(4, 16), readonly=True)
    a = np.asarray(b)
    assert not a.flags.writeable
    assert a[0].tolist() == [0, 4, 8, 12]


# --- region -------------------------------------------------------------------------

def test_region_basic(fake):
    h = fake.create_ints(16)
    owner = pybuf.Owner(**h.owner_kwargs())
    b = owner.buffer(h.ptr, 16, "i")
    r = b.region(8, 4, "i")
    assert isinstance(r, pybuf.Buffer)
    assert r.owner is owner
    assert r.address == h.ptr + 8
    assert r.shape == (4,) and r.nbytes == 16
    assert np.asarray(r).tolist() == [2, 3, 4, 5]
    assert owner.buffers == 2
    np.asarray(r)[0] = 200
    assert h.read(2) == 200


def test_region_default_dtype_is_parents(big):
    b = borrowed(big, 16, "i")
    r = b.region(4, 3)
    assert r.format == b.format and r.itemsize == 4
    assert np.asarray(r).tolist() == [1, 2, 3]


def test_region_other_dtype_and_shape(big):
    b = borrowed(big, 64, "B")
    r = b.region(16, (2, 2), "i")
    assert np.asarray(r).tolist() == [[4, 5], [6, 7]]
    r = b.region(0, 4, np.dtype("<f8"))
    assert np.asarray(r).dtype == np.float64
    r = b.region(0, 2, "T{<i:x:<d:y:}")
    assert r.itemsize == 12


def test_region_strides(big):
    b = borrowed(big, 16, "i")
    r = b.region(0, 4, "i", strides=(8,))
    assert np.asarray(r).tolist() == [0, 2, 4, 6]
    r = b.region(4, (2, 2), "i", strides=(4, 32))
    assert np.asarray(r).tolist() == [[1, 9], [2, 10]]


def test_region_offset_from_lowest_byte_of_negative_stride_parent(big):
    b = pybuf.Owner().buffer(big.ptr + 60, 16, "i", strides=(-4,))
    r = b.region(0, 4, "i")
    assert r.address == big.ptr
    assert np.asarray(r).tolist() == [0, 1, 2, 3]


def test_region_of_region(big):
    b = borrowed(big, 16, "i")
    r = b.region(16, 8, "i")
    rr = r.region(8, 2, "i")
    assert rr.address == big.ptr + 24
    assert np.asarray(rr).tolist() == [6, 7]
    with pytest.raises(ValueError):
        r.region(28, 2, "i")     # inside b, outside r


@pytest.mark.parametrize("offset, shape, dtype, strides", [
    (60, 2, "i", None),
    (64, 1, "B", None),
    (0, 17, "i", None),
    (0, 9, "i", (8,)),
    (0, (2, 2), "d", (64, 8)),
    (4, 1, "d" * 8, None),
])
def test_region_outside_parent(big, offset, shape, dtype, strides):
    b = borrowed(big, 16, "i")
    with pytest.raises(ValueError):
        b.region(offset, shape, dtype, strides=strides)


def test_region_readonly(big):
    b = borrowed(big, 16, "i", readonly=True)
    r = b.region(0, 4, "i")
    assert r.readonly is True
    r = b.region(0, 4, "i", readonly=True)
    assert r.readonly is True
    with pytest.raises(BufferError):
        b.region(0, 4, "i", readonly=False)
    w = borrowed(big, 16, "i")
    assert w.region(0, 4, "i").readonly is False
    ro = w.region(0, 4, "i", readonly=True)
    assert ro.readonly is True
    assert not np.asarray(ro).flags.writeable


def test_region_keeps_owner_after_parent_dropped(fake):
    h = fake.create_ints(16)
    owner = pybuf.Owner(**h.owner_kwargs())
    b = owner.buffer(h.ptr, 16, "i")
    r = b.region(32, 4, "i")
    owner.close()
    del b, owner
    gc.collect()
    assert h.destroys == 0
    assert r.nbytes == 16
    assert r.owner.closed
    del r
    gc.collect()
    assert h.destroys == 1


# --- alloc -----------------------------------------------------------------------

def test_alloc_zero_filled_aligned():
    b = pybuf.alloc(1000, "i")
    assert b.address % 64 == 0
    assert b.shape == (1000,)
    assert b.nbytes == 4000
    a = np.asarray(b)
    assert a.dtype == np.intc
    assert not a.any()
    a[:] = np.arange(1000)
    assert int(a.sum()) == 999 * 1000 // 2
    assert isinstance(b.owner, pybuf.Owner)


@pytest.mark.parametrize("shape, dtype", [((3, 5), "d"), (7, "B"), ((2, 2), np.float16),
                                          (4, np.dtype([("x", "<i4"), ("y", "<f8")])),
                                          (3, "Zd"), (0, "i")])
def test_alloc_shapes(shape, dtype):
    b = pybuf.alloc(shape, dtype)
    assert b.address % 64 == 0 or b.nbytes == 0
    a = np.asarray(b)
    assert a.shape == ((shape,) if isinstance(shape, int) else shape)
    assert a.dtype.itemsize == b.itemsize
    assert a.tobytes() == bytes(b.nbytes)


def test_alloc_many_aligned_and_distinct():
    bufs = [pybuf.alloc(n, "B") for n in (1, 3, 63, 64, 65, 4097)]
    for b in bufs:
        assert b.address % 64 == 0
    addrs = [b.address for b in bufs]
    assert len(set(addrs)) == len(addrs)


def test_alloc_released_at_the_end():
    b = pybuf.alloc(256, "d", name="alloc-end")
    owner = b.owner
    a = np.asarray(b)[10:20]
    a[:] = 1.0
    del b
    gc.collect()
    assert not owner.released
    owner.close()
    assert not owner.released
    assert a.sum() == 10.0
    del a
    gc.collect()
    assert owner.released
    assert not [i for i in pybuf.live() if i.name == "alloc-end"]


@pytest.mark.parametrize("fmt", ["T{i:a:d:b:}", "T{<b:a:<i:b:}", "=q", ">i", "!h", ">d",
                                 "@i", "l", "L", "n", "N", "Q", "T{i:a:}", "xxi",
                                 "T{(2)i:a:}", "3s", "s", "g", "Zg", "w"])
def test_itemsize_agrees_with_numpy(big, fmt):
    buf = borrowed(big, 4, fmt)
    assert buf.format == fmt
    try:
        size = struct.calcsize(fmt)
    except struct.error:
        size = None
    if size is not None:
        assert buf.itemsize == size
    a = np.asarray(buf)
    assert a.dtype.itemsize == buf.itemsize
    assert a.shape == (4,)
    assert a.ctypes.data == big.ptr
    assert buf.nbytes == 4 * buf.itemsize

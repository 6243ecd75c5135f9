"""The shim's cache of validated layouts: reused only where the core allows."""

import ctypes

import numpy as np
import pytest

import pybuf
from pybuf import _pybuf


def hits():
    return _pybuf._core_info()["layout_cache_hits"]


def test_a_repeated_layout_is_served_from_the_cache():
    mem = pybuf.alloc(64)
    pybuf.wrap(mem.address, (4, 4), "<i")
    before = hits()
    for k in range(10):
        b = pybuf.wrap(mem.address + 4 * (k % 2), (4, 4), "<i")
        assert b.strides == (16, 4) and b.nbytes == 64
    assert hits() - before == 10


def test_a_cached_layout_still_refuses_a_null_address():
    mem = pybuf.alloc(40)
    pybuf.wrap(mem.address, 10, "i")
    with pytest.raises(ValueError, match="address"):
        pybuf.wrap(0, 10, "i")


def test_a_cached_negative_stride_layout_still_refuses_addresses_too_low():
    mem = pybuf.alloc(40)
    b = pybuf.wrap(mem.address + 36, 10, "i", strides=(-4,))
    np.testing.assert_array_equal(np.asarray(b), np.zeros(10, np.int32))
    with pytest.raises(ValueError, match="address"):
        pybuf.wrap(8, 10, "i", strides=(-4,))


def test_a_cached_layout_still_refuses_an_address_past_the_end():
    pybuf.wrap(4096, 8, "d")
    with pytest.raises(OverflowError, match="address"):
        pybuf.wrap(2**64 - 16, 8, "d")


def test_layouts_that_differ_only_in_strides_are_not_confused():
    mem = pybuf.alloc(64)
    a = pybuf.wrap(mem.address, (2, 2), "i", strides=(8, 4))
    b = pybuf.wrap(mem.address, (2, 2), "i", strides=(4, 8))
    assert (a.strides, b.strides) == ((8, 4), (4, 8))
    assert a.c_contiguous and b.f_contiguous and not b.c_contiguous


def test_dtype_answers_are_kept_per_dtype_object():
    # The shim keeps the dtype hook's answer per dtype object and looks the last
    # one up first: alternating dtypes, and equal dtypes that are distinct
    # objects, each get their own format.
    mem = ctypes.create_string_buffer(256)
    addr = ctypes.addressof(mem)
    rec = np.dtype([("x", "<i4"), ("y", "<f8")])
    for _ in range(3):
        for dt, fmt, itemsize in ((np.int32, "i", 4), (np.float64, "d", 8), (np.dtype("<u2"), "H", 2),
                                  (rec, memoryview(np.empty(0, rec)).format, 12),
                                  (np.dtype(np.int32), "i", 4)):
            b = pybuf.wrap(addr, 4, dt)
            assert (b.format, b.itemsize) == (fmt, itemsize), dt
            assert np.asarray(b).dtype == np.dtype(dt)

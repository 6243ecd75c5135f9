"""Property tests: any in-bounds layout over a fake buffer reads like NumPy's as_strided
view of the same bytes, and out-of-bounds regions are refused."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import pybuf  # noqa: E402
from hostile import Index  # noqa: E402

NINTS = 1024
ITEM = {"i": 4, "d": 8, "B": 1, "h": 2}
NPT = {"i": np.int32, "d": np.float64, "B": np.uint8, "h": np.int16}


@pytest.fixture(scope="module")
def area(fake):
    h = fake.create_ints(NINTS)
    ref = np.arange(NINTS, dtype=np.int32).view(np.uint8).copy()
    return h, ref


@st.composite
def layouts(draw):
    fmt = draw(st.sampled_from(sorted(ITEM)))
    item = ITEM[fmt]
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    strides = tuple(draw(st.integers(-8, 8)) * item for _ in range(ndim))
    return fmt, shape, strides


def extent(shape, strides, item):
    lo = hi = 0
    if any(s == 0 for s in shape):
        return 0, 0
    for n, s in zip(shape, strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + item


def honest_form(values, container, wrap):
    """The same ints as a tuple or a list, each item an int or an integer-like whose
    __index__ answers it (hostile.Index, honest): every form is the same layout."""
    items = [Index("honest", v) if w else v for v, w in zip(values, wrap)]
    return tuple(items) if container == "tuple" else items


@settings(max_examples=300, deadline=None, database=None)
@given(layouts(), st.integers(0, 4 * NINTS), st.sampled_from(["tuple", "list"]),
       st.lists(st.booleans(), min_size=3, max_size=3))
def test_buffer_matches_as_strided(area, layout, start, container, wrap):
    h, ref = area
    fmt, shape, strides = layout
    item = ITEM[fmt]
    lo, hi = extent(shape, strides, item)
    start = start - start % item
    if start + lo < 0 or start + hi > 4 * NINTS:
        return
    buf = pybuf.Owner().buffer(h.ptr + start, honest_form(shape, container, wrap), fmt,
                               strides=honest_form(strides, container, wrap[::-1]),
                               readonly=True)
    assert buf.shape == shape
    assert buf.strides == strides
    assert buf.nbytes == item * int(np.prod(shape, dtype=np.int64))
    a = np.asarray(buf)
    expected = np.ndarray(shape, NPT[fmt], buffer=ref, offset=start, strides=strides)
    assert a.shape == expected.shape
    assert a.strides == expected.strides
    assert np.array_equal(a, expected)
    m = memoryview(buf)
    assert m.shape == shape and m.strides == strides
    if a.size:
        # element (0, ..., 0) is at the address
        assert a[(0,) * len(shape)] == ref[start:start + item].view(NPT[fmt])[0]


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(sorted(ITEM)), st.integers(0, 40), st.integers(0, 8),
       st.integers(0, 200))
def test_region_bounds(area, fmt, n, stride_items, offset):
    h, ref = area
    parent = pybuf.Owner().buffer(h.ptr, 64, "B")
    item = ITEM[fmt]
    strides = (stride_items * item,)
    lo, hi = extent((n,), strides, item)
    # the region's lowest byte is at `offset` in the parent
    inside = offset + (hi - lo) <= 64 if n else offset <= 64
    if inside:
        try:
            r = parent.region(offset, n, fmt, strides=strides)
        except ValueError as e:  # pragma: no cover
            raise AssertionError(f"refused an in-bounds region: {e}")
        assert r.nbytes == n * item
        if n:
            lowest = min(r.address, r.address + (n - 1) * strides[0])
            assert lowest == h.ptr + offset
    else:
        with pytest.raises(ValueError):
            parent.region(offset, n, fmt, strides=strides)

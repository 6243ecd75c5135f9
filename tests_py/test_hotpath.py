"""The per-export path never calls the Go core.

Every call into Go goes through the shim's loader, which counts how often it
hands the core out (`_core_info()["uses"]`): exporting and releasing views must
leave that count unchanged, while creating owners and buffers moves it.
"""

import numpy as np

import pybuf
from pybuf import _pybuf


def uses():
    return _pybuf._core_info()["uses"]


def test_exports_and_releases_never_call_go(no_trace):
    buf = pybuf.alloc((8, 8), "<d")
    region = buf.region(64, (4, 8))
    before = uses()
    for _ in range(2000):
        a = np.asarray(buf)
        s = a[1:3].T
        m = memoryview(region)[1:]
        f = np.frombuffer(region, dtype=np.uint8)
        d = np.from_dlpack(buf)
        del a, s, m, f, d
    _ = (buf.shape, buf.strides, buf.exports, buf.owner.exports, repr(buf))
    assert uses() == before


def test_creating_buffers_does_call_go(no_trace):
    buf = pybuf.alloc(64)
    before = uses()
    buf.region(0, 8)
    assert uses() > before   # the counter is live: the test above can fail


def test_close_and_release_of_an_owner_with_views_stay_in_c(no_trace):
    mem = pybuf.alloc(16)
    owner = pybuf.Owner(name="c only")
    view = np.asarray(owner.buffer(mem.address, 16))
    before = uses()
    owner.close()
    view[0] = 1
    del view          # the owner is released here: one unregister call, no more
    assert owner.released
    assert uses() - before <= 1

"""Every consumer holds the owner like a NumPy view does: Arrow, cffi, pickle,
copy; and the diagnostics a developer uses to find who holds what."""

import copy
import gc
import pickle
import tracemalloc

import numpy as np
import pytest

import pybuf


def owned(fake, name="lib state"):
    h = fake.create_ints(64)
    owner = pybuf.Owner(**h.owner_kwargs(), name=name)
    return h, owner, owner.buffer(h.ptr, 64, "i")


def held_until_dropped(fake, consume, use, exports=None):
    """`consume(buf)` makes a consumer; the owner is closed and every name of
    it and its buffer dropped; the release waits for the consumer alone, which
    `use` reads (and may write) first."""
    h, owner, buf = owned(fake)
    consumer = consume(buf)
    if exports is not None:
        assert owner.exports == exports
    owner.close()
    del buf, owner
    gc.collect()
    assert h.destroys == 0
    use(consumer, h)
    del consumer
    gc.collect()
    assert h.destroys == 1


def test_arrow_buffer_and_array_keep_the_owner(fake):
    pa = pytest.importorskip("pyarrow")

    def consume(buf):
        return pa.Array.from_buffers(pa.int32(), 64, [None, pa.py_buffer(buf)])

    def use(arr, h):
        assert arr[5].as_py() == 5

    held_until_dropped(fake, consume, use, exports=1)


def test_arrow_foreign_buffer_with_base_keeps_the_owner(fake):
    pa = pytest.importorskip("pyarrow")

    def use(fb, h):
        assert np.frombuffer(fb, dtype=np.int32)[7] == 7

    held_until_dropped(fake, lambda buf: pa.foreign_buffer(buf.address, buf.nbytes, base=buf), use)


def test_cffi_from_buffer_holds_the_buffer(fake):
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()

    def use(cdata, h):
        assert cdata[9] == 9
        cdata[9] = -9
        assert h.read(9) == -9

    held_until_dropped(fake, lambda buf: ffi.from_buffer("int[]", buf), use, exports=1)


def test_cffi_function_pointer_release(fake):
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef("void fake_destroy(void *);")
    lib = ffi.dlopen(fake.path)
    h = fake.create_ints(4)
    b = pybuf.wrap(ffi.cast("void *", h.ptr), 4, "i", release=ffi.addressof(lib, "fake_destroy"),
                   arg=ffi.cast("void *", h.h))
    assert np.asarray(b)[3] == 3
    del b
    gc.collect()
    assert h.destroys == 1


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_by_value_every_protocol(fake, protocol):
    h, owner, buf = owned(fake)
    copy_ = pickle.loads(pickle.dumps(buf, protocol=protocol))
    assert type(copy_) is pybuf.Buffer
    assert (copy_.shape, copy_.format, copy_.itemsize) == (buf.shape, buf.format, buf.itemsize)
    assert copy_.owner is not owner
    np.testing.assert_array_equal(np.asarray(copy_), np.arange(64))
    np.asarray(copy_)[0] = 1000
    assert h.read(0) == 0           # a copy, not a view


def test_pickle_strided_and_readonly():
    b = pybuf.alloc((4, 6), "<d")
    np.asarray(b)[:] = np.arange(24).reshape(4, 6)
    r = b.region(8, (4, 2), strides=(48, 16), readonly=True)
    out = pickle.loads(pickle.dumps(r))
    assert out.readonly and out.shape == (4, 2)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(b)[:, 1:5:2])


def test_pickle_protocol5_out_of_band_is_zero_copy():
    b = pybuf.alloc(16, "<f")
    np.asarray(b)[:] = np.arange(16)
    frames = []
    data = pickle.dumps(b, protocol=5, buffer_callback=frames.append)
    assert len(frames) == 1
    out = pickle.loads(data, buffers=frames)
    np.asarray(out)[3] = -1.0
    assert np.asarray(b)[3] == -1.0   # same memory
    # the unpickled buffer holds the original through the out-of-band frame
    del frames, data
    b.owner.close()
    assert not b.owner.released
    del b
    assert np.asarray(out)[3] == -1.0


@pytest.mark.parametrize("fn", [copy.copy, copy.deepcopy])
def test_copy_makes_a_new_owner_with_the_bytes(fake, fn):
    h, owner, buf = owned(fake)
    c = fn(buf)
    assert c.owner is not owner and c.address != buf.address
    np.testing.assert_array_equal(np.asarray(c), np.asarray(buf))


def test_alloc_is_visible_to_tracemalloc():
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        b = pybuf.alloc(1 << 20)
        grown = tracemalloc.get_traced_memory()[0] - before
        assert grown >= 1 << 20
        del b
        assert tracemalloc.get_traced_memory()[0] - before < 1 << 16
    finally:
        tracemalloc.stop()


def test_repr_says_dtype_shape_address_exports_and_state(fake):
    h, owner, buf = owned(fake)
    a = np.asarray(buf)
    r = repr(buf)
    assert "'i'" in r and "(64,)" in r and hex(buf.address) in r and "1 export" in r and "open" in r
    assert "'lib state'" in repr(owner) and "open" in repr(owner) and "1 buffer" in repr(owner)
    owner.close()
    assert "closed" in repr(buf) and "closed" in repr(owner)
    del a, buf
    assert "released" in repr(owner)


def test_trace_shows_sites_in_live_and_strict_close(fake):
    h, owner, buf = owned(fake, name="traced state")
    pybuf.trace(True)
    try:
        b2 = owner.buffer(h.ptr, 8, "i")
        view = memoryview(b2)
        (info,) = [i for i in pybuf.live() if i.name == "traced state"]
        kinds = sorted(k for k, _ in info.holders)
        assert kinds == ["buffer", "export"]
        assert all("test_consumers.py" in site and "MainThread" in site for _, site in info.holders)
        with pytest.raises(BufferError, match=r"test_consumers\.py:\d+"):
            owner.close(strict=True)
        view.release()
    finally:
        pybuf.trace(False)

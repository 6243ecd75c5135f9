"""pybuf.from_buffer(obj, *, readonly=None, name=None): any exporter under pybuf's rules."""
import array
import gc

import numpy as np
import pytest

import pybuf


def test_from_bytearray_shares_memory():
    ba = bytearray(range(16))
    b = pybuf.from_buffer(ba)
    assert isinstance(b, pybuf.Buffer)
    assert b.nbytes == 16
    assert b.readonly is False
    a = np.asarray(b)
    assert a.dtype == np.uint8
    a[0] = 200
    assert ba[0] == 200
    ba[1] = 201
    assert a[1] == 201


def test_from_buffer_keeps_layout_of_exporter():
    src = np.arange(24, dtype="<f8").reshape(4, 6)[:, ::2]
    b = pybuf.from_buffer(src)
    assert b.shape == (4, 3)
    assert b.strides == src.strides
    assert b.format == memoryview(src).format
    a = np.asarray(b)
    assert (a == src).all()
    assert a.ctypes.data == src.ctypes.data
    arr = array.array("i", range(10))
    b2 = pybuf.from_buffer(arr)
    assert b2.format == "i" and b2.shape == (10,)
    assert np.asarray(b2).sum() == 45


def test_from_buffer_holds_source_export_until_release():
    ba = bytearray(8)
    b = pybuf.from_buffer(ba, name="from-ba")
    owner = b.owner
    a = np.asarray(b)
    with pytest.raises(BufferError):
        ba.append(1)             # exported: cannot resize
    del b
    owner.close()
    assert not owner.released
    with pytest.raises(BufferError):
        ba.append(1)
    del a
    gc.collect()
    assert owner.released
    ba.append(1)                 # the export on the source was released
    assert len(ba) == 9


def test_from_buffer_strict_close():
    ba = bytearray(8)
    b = pybuf.from_buffer(ba)
    m = memoryview(b)
    owner = b.owner
    with pytest.raises(BufferError):
        owner.close(strict=True)
    del m, b
    gc.collect()
    owner.close(strict=True)
    assert owner.released
    ba.extend(b"xx")


def test_from_buffer_readonly():
    b = pybuf.from_buffer(b"abcdef")
    assert b.readonly is True
    assert not np.asarray(b).flags.writeable
    with pytest.raises(BufferError):
        pybuf.from_buffer(b"abcdef", readonly=False)
    ro = pybuf.from_buffer(bytearray(4), readonly=True)
    assert ro.readonly is True
    assert not np.asarray(ro).flags.writeable


def test_from_buffer_not_an_exporter():
    with pytest.raises(TypeError):
        pybuf.from_buffer(3.5)
    with pytest.raises(TypeError):
        pybuf.from_buffer("text")


def test_from_buffer_of_pybuf_buffer(fake):
    h = fake.create_ints(8)
    inner = pybuf.wrap(h.ptr, 8, "i", release=fake.lib.fake_destroy, arg=h.h)
    outer = pybuf.from_buffer(inner)
    assert outer.address == h.ptr
    inner.owner.close()
    del inner
    gc.collect()
    assert h.destroys == 0
    a = np.asarray(outer)
    assert a.sum() == 28
    outer.owner.close()
    del outer, a
    gc.collect()
    assert h.destroys == 1


def test_from_buffer_live_name():
    ba = bytearray(32)
    b = pybuf.from_buffer(ba, name="from-buffer-name")
    infos = [i for i in pybuf.live() if i.name == "from-buffer-name"]
    assert len(infos) == 1
    assert infos[0].nbytes == 32
    del b
    gc.collect()
    assert not [i for i in pybuf.live() if i.name == "from-buffer-name"]

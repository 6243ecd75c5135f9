"""Out-of-band unpickling (protocol 5): the Buffer looks into the buffer the
unpickler was given, and a read-only one gives a read-only Buffer, as NumPy
does (Ray's object store and Dask hand over read-only frames)."""

import pickle

import numpy as np
import pytest

import pybuf


def _address(obj):
    return np.frombuffer(obj, dtype=np.uint8).ctypes.data


def _pickled(buf):
    frames = []
    data = pickle.dumps(buf, protocol=5, buffer_callback=frames.append)
    assert len(frames) == 1
    return data, frames[0]


def test_read_only_frame_gives_a_read_only_buffer_with_the_same_bytes():
    b = pybuf.alloc(4, "<d")
    np.asarray(b)[:] = [1.5, 2.5, 3.5, 4.5]
    data, frame = _pickled(b)
    frozen = memoryview(bytes(frame.raw()))
    out = pickle.loads(data, buffers=[frozen])
    assert type(out) is pybuf.Buffer
    assert out.readonly is True
    assert out.shape == (4,) and out.format == "<d"
    assert np.asarray(out).tolist() == [1.5, 2.5, 3.5, 4.5]
    assert out.address == _address(frozen)  # no copy was made
    assert memoryview(out).readonly is True
    with pytest.raises(ValueError):
        np.asarray(out)[0] = 0.0


def test_numpy_gives_a_read_only_array_in_the_same_case():
    # The behaviour pybuf follows.
    a = np.array([1.5, 2.5, 3.5, 4.5])
    frames = []
    data = pickle.dumps(a, protocol=5, buffer_callback=frames.append)
    out = pickle.loads(data, buffers=[memoryview(bytes(frames[0].raw()))])
    assert out.flags.writeable is False


def test_writable_frame_gives_a_writable_buffer_over_it():
    b = pybuf.alloc((2, 3), "<i4")
    np.asarray(b)[:] = [[1, 2, 3], [4, 5, 6]]
    data, frame = _pickled(b)
    target = bytearray(frame.raw())
    # A bare bytes or bytearray is what in-band pickles carry: it is copied.
    out = pickle.loads(data, buffers=[memoryview(target)])
    assert out.readonly is False
    assert out.shape == (2, 3) and out.format == b.format
    np.asarray(out)[1, 2] = 60
    assert np.frombuffer(target, dtype="<i4").tolist() == [1, 2, 3, 4, 5, 60]


def test_read_only_buffer_stays_read_only_over_a_writable_frame():
    b = pybuf.alloc(3, "B").region(0, 3, readonly=True)
    data, frame = _pickled(b)
    out = pickle.loads(data, buffers=[memoryview(bytearray(frame.raw()))])
    assert out.readonly is True
    assert bytes(memoryview(out)) == b"\x00\x00\x00"


def test_strided_buffer_from_a_read_only_frame_is_contiguous_and_read_only():
    b = pybuf.alloc((4, 6), "<d")
    np.asarray(b)[:] = np.arange(24).reshape(4, 6)
    strided = b.region(8, (4, 2), strides=(48, 16))
    data, frame = _pickled(strided)
    out = pickle.loads(data, buffers=[memoryview(bytes(frame.raw()))])
    assert out.readonly is True
    assert out.shape == (4, 2) and out.strides == (16, 8)
    assert np.asarray(out).tolist() == [[1.0, 3.0], [7.0, 9.0], [13.0, 15.0], [19.0, 21.0]]


def test_read_only_frame_keeps_its_memory_alive():
    b = pybuf.alloc(1 << 16, "B")
    np.asarray(b)[:] = 7
    data, frame = _pickled(b)
    frozen = memoryview(bytes(frame.raw()))
    out = pickle.loads(data, buffers=[frozen])
    del frozen, frame, b
    assert int(np.asarray(out).sum()) == 7 << 16

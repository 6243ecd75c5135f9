"""pybuf's serializers for distributed, called as distributed calls them
(serialize / deserialize), without a cluster."""

import numpy as np
import pytest
from distributed.protocol.serialize import deserialize, serialize

import pybuf
from pybuf import shm
from pybuf._shm_host import host_token

SAME_HOST = {"recipient": {"pybuf-shm-host": host_token()}}


def _address(obj):
    return np.frombuffer(obj, dtype=np.uint8).ctypes.data


@pytest.mark.parametrize("shape", [(0,), (), (3, 4)])
@pytest.mark.parametrize("readonly", [False, True])
def test_buffer_round_trips_with_its_layout_and_mode(shape, readonly):
    b = pybuf.alloc(shape, "<i4")
    if b.nbytes:
        np.asarray(b)[...] = 7
    x = b.region(0, shape, readonly=True) if readonly else b
    out = deserialize(*serialize(x, serializers=["dask"]))
    assert type(out) is pybuf.Buffer
    assert (out.shape, out.format, out.readonly) == (shape, b.format, readonly)
    assert np.asarray(out).tolist() == np.full(shape, 7, dtype="<i4").tolist()


def test_writable_frame_is_looked_into_not_copied():
    b = pybuf.alloc(4, "<d")
    header, frames = serialize(b, serializers=["dask"])
    received = bytearray(bytes(frames[0]))
    out = deserialize(header, [received])
    assert out.readonly is False and out.address == _address(received)


def test_read_only_frame_of_a_writable_buffer_gives_a_writable_copy():
    b = pybuf.alloc(4, "<d")
    np.asarray(b)[:] = 1.5
    header, frames = serialize(b, serializers=["dask"])
    received = bytes(frames[0])
    out = deserialize(header, [received])
    assert out.readonly is False and out.address != _address(received)
    assert np.asarray(out).tolist() == [1.5] * 4


def test_numpy_view_of_shm_goes_by_name_to_the_same_host_and_by_value_elsewhere():
    with shm.create(4096) as seg:
        try:
            a = np.asarray(seg.buffer(0, (8, 8), "<f8"))[2:4, ::2]
            header, frames = serialize(a, serializers=["dask"], context=SAME_HOST)
            assert frames == []
            assert header["sub-header"] == {
                "pybuf": "shm",
                "spec": [seg.name, 128, (2, 4), "<f8", (64, 16), False],
                "host": host_token(),
            }
            out = deserialize(header, frames)
            assert type(out) is np.ndarray and out.strides == (64, 16)
            out[:] = 9.0
            assert a.tolist() == [[9.0] * 4] * 2  # the same pages
            header, frames = serialize(a, serializers=["dask"], context={"recipient": {}})
            assert "pybuf" not in header["sub-header"]  # Dask's own NumPy serializer
            assert sum(memoryview(f).nbytes for f in frames) == 64
            del out, a
        finally:
            seg.unlink()


def test_plain_numpy_array_is_left_to_dask():
    a = np.arange(6.0)
    header, frames = serialize(a, serializers=["dask"], context=SAME_HOST)
    assert "pybuf" not in header["sub-header"]
    assert deserialize(header, frames).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]

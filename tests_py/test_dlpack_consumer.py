"""DLPack with a C consumer that frees the tensor on a thread of its own."""

import ctypes
import os
import subprocess

import numpy as np
import pytest

import pybuf

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(TESTS_DIR, "clib", "dlpack_consumer.c")
DLPACK_H_DIR = os.path.join(os.path.dirname(TESTS_DIR), "pybuf", "capi")  # dlpack.h


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("dlpack") / "libconsumer.so")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-I", DLPACK_H_DIR,
                    "-o", out, SOURCE, "-lpthread"], check=True, timeout=120)
    lib = ctypes.CDLL(out)  # CDLL: the GIL is released during each call
    lib.consumer_sum_int32.restype = ctypes.c_longlong
    lib.consumer_flags.restype = ctypes.c_uint64
    for f in (lib.consumer_sum_int32, lib.consumer_flags, lib.consumer_delete_on_thread):
        f.argtypes = [ctypes.c_void_p]
    return lib


def take(capsule, name=b"dltensor_versioned"):
    """What a consumer does: take the tensor and rename the capsule as used."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    rename = ctypes.pythonapi.PyCapsule_SetName
    rename.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(capsule, name)
    assert rename(capsule, b"used_" + name) == 0
    return ptr


def test_c_consumer_reads_and_frees_on_its_own_thread(consumer, fake):
    h = fake.create_ints(32)
    owner = pybuf.Owner(**h.owner_kwargs())
    buf = owner.buffer(h.ptr, 16, "i", strides=(8,))   # every other int: 0, 2, 4, ...
    ptr = take(buf.__dlpack__(max_version=(1, 0)))
    assert owner.exports == 1
    owner.close()
    del buf
    assert h.destroys == 0                              # the tensor holds the memory
    assert consumer.consumer_sum_int32(ptr) == sum(range(0, 32, 2))
    assert consumer.consumer_delete_on_thread(ptr) == 0
    assert owner.exports == 0 and h.destroys == 1       # released by that last delete


def test_c_consumer_sees_the_read_only_flag(consumer):
    b = pybuf.alloc(4, "i").region(0, 4, readonly=True)
    ptr = take(b.__dlpack__(max_version=(1, 0)))
    assert consumer.consumer_flags(ptr) & 1
    assert consumer.consumer_delete_on_thread(ptr) == 0
    assert b.exports == 0


def test_numpy_and_c_consumers_hold_the_same_owner(consumer, fake):
    h = fake.create_ints(8)
    b = pybuf.wrap(h.ptr, 8, "i", **h.owner_kwargs())
    arr = np.from_dlpack(b)
    ptr = take(b.__dlpack__(max_version=(1, 0)))
    assert b.owner.exports == 2
    del b
    arr[0] = 100
    assert consumer.consumer_sum_int32(ptr) == 100 + sum(range(1, 8))
    del arr
    assert h.destroys == 0
    consumer.consumer_delete_on_thread(ptr)
    assert h.destroys == 1

"""DLPack with a C consumer that frees the tensor on a thread of its own."""

import numpy as np
import pytest

import pybuf
from fakehelp import load_dlpack_consumer, take


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    return load_dlpack_consumer(tmp_path_factory.mktemp("dlpack"))


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


def test_deleters_on_foreign_threads_race_views_of_the_same_buffer(consumer, fake):
    # Export counters change under the owner's interpreter's GIL, which a
    # deleter on a thread of its own takes first: while 2,000 tensors are freed
    # from detached threads, the main thread keeps taking and dropping views of
    # the same Buffer. A lost update would leave a count behind (no release)
    # or take one too many (a release under a live view).
    h = fake.create_ints(16)
    owner = pybuf.Owner(**h.owner_kwargs())
    buf = owner.buffer(h.ptr, 16, "i")
    for i in range(2000):
        assert consumer.consumer_delete_later(take(buf.__dlpack__(max_version=(1, 0)))) == 0
        m = memoryview(buf)
        a = np.asarray(buf)
        assert a[3] == 3
        del m, a
    assert consumer.consumer_wait_all() == 0
    assert (owner.exports, buf.exports) == (0, 0)
    owner.close()
    assert h.destroys == 0
    del buf
    assert h.destroys == 1

"""By-name pickles of pybuf.shm carry a token of the sender's /dev/shm; where
/dev/shm is another one they fail with a clear error instead of attaching to
a wrong segment or reporting a bare "no such segment"."""

import os
import pickle

import numpy as np
import pytest

from pybuf import shm
from pybuf._shm_host import host_token


def _foreign(data, token="f" * len(host_token())):
    """The same pickle as if made where /dev/shm is another one."""
    assert data.count(host_token().encode()) == 1
    return data.replace(host_token().encode(), token.encode())


def _message(name):
    return (
        f'name "{name}": the segment lives in the shared memory of another host or container '
        "(another /dev/shm); pybuf.shm objects travel by name only between processes that share /dev/shm"
    )


def test_token_is_the_boot_id_and_the_dev_shm_device():
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    assert host_token() == f"{boot}/{os.stat('/dev/shm').st_dev:x}"


def test_buffer_pickle_from_another_dev_shm_raises_naming_the_segment(seg):
    view = seg.buffer(0, 4, "<d")
    with pytest.raises(shm.SegmentNotFoundError) as raised:
        pickle.loads(_foreign(pickle.dumps(view)))
    assert str(raised.value) == _message(seg.name)
    assert isinstance(raised.value, FileNotFoundError) and isinstance(raised.value, ValueError)


def test_segment_pickle_from_another_dev_shm_raises_naming_the_segment(seg):
    with pytest.raises(shm.SegmentNotFoundError) as raised:
        pickle.loads(_foreign(pickle.dumps(seg)))
    assert str(raised.value) == _message(seg.name)


def test_same_dev_shm_attaches_the_same_pages(seg):
    view = seg.buffer(8, 4, "<d")
    out = pickle.loads(pickle.dumps(view))
    np.asarray(out)[:] = 7.0
    assert np.asarray(view).tolist() == [7.0] * 4
    assert pickle.loads(pickle.dumps(seg)).name == seg.name


def test_pickle_without_a_token_still_attaches(seg):
    # Pickles made before the token existed: (name, offset, shape, format, strides, readonly).
    out = shm._rebuild_buffer(seg.name, 0, (4,), "d", (8,), False)
    assert out.owner.name == seg.name and out.shape == (4,)
    assert shm._attach_pickled(seg.name, True).readonly is True


def test_unpickling_outside_a_dask_message_maps_at_once_even_with_distributed_loaded(seg):
    import distributed  # noqa: F401  (the integration is armed, the stack has no Dask message)

    out = pickle.loads(pickle.dumps(seg.buffer(0, 4, "<d")))
    assert type(out).__name__ == "Buffer" and out.owner.name == seg.name

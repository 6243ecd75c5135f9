"""SharedMemoryNode, what a by-name shm object becomes while Dask's
distributed decodes a message: it maps when the task calls it, pickles back
to the same by-name form, and a failed one raises its error when used."""

import pickle

import numpy as np
import pytest
from dask._task_spec import Task

from pybuf import shm
from pybuf._dask_node import SharedMemoryNode, map_or_failed_node


@pytest.fixture
def seg():
    s = shm.create(4096)
    np.asarray(s.buffer(0, 4, "<d"))[:] = [1.0, 2.0, 3.0, 4.0]
    yield s
    s.unlink()
    s.close()


def _args(seg):
    return (seg.name, 0, (4,), "<d", (8,), False, None)


def test_node_maps_when_called(seg):
    node = SharedMemoryNode(shm._map_buffer, _args(seg))
    out = node()
    assert out.owner.name == seg.name
    assert np.asarray(out).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_task_gets_the_buffer_not_the_node(seg):
    node = SharedMemoryNode(shm._map_buffer, _args(seg))
    task = Task("k", lambda b: (type(b).__name__, float(np.asarray(b).sum())), node)
    assert task({}) == ("Buffer", 10.0)


def test_node_pickles_to_the_by_name_form(seg):
    node = SharedMemoryNode(shm._map_buffer, _args(seg))
    assert node.__reduce__() == (shm._rebuild_buffer, _args(seg))
    out = pickle.loads(pickle.dumps(node))  # outside a Dask message: a Buffer
    assert type(out).__name__ == "Buffer" and out.owner.name == seg.name
    seg_node = SharedMemoryNode(shm._map_segment, (seg.name, False, None))
    assert pickle.loads(pickle.dumps(seg_node)).name == seg.name


def test_failed_mapping_becomes_a_node_that_raises_when_used():
    node = map_or_failed_node(shm._map_buffer, ("pybuf_test_no_such_name", 0, (4,), "<d", (8,), False, None))
    assert type(node) is SharedMemoryNode
    message = 'name "pybuf_test_no_such_name": no such shared-memory segment'
    with pytest.raises(shm.SegmentNotFoundError, match=message):
        node()
    with pytest.raises(shm.SegmentNotFoundError, match=message):
        np.asarray(node)
    with pytest.raises(shm.SegmentNotFoundError, match=message):
        node.shape
    assert not hasattr(node, "__dask_graph__")  # Dask's probes still see a plain object
    with pytest.raises(shm.SegmentNotFoundError, match=message):
        Task("k", len, node)({})


def test_successful_mapping_is_the_buffer_itself(seg):
    out = map_or_failed_node(shm._map_buffer, _args(seg))
    assert type(out).__name__ == "Buffer"


def test_scheduler_placeholder_is_plain_data_that_pickles_by_name(seg):
    # The scheduler builds graphs from what it unpickles ({key: buf} for
    # da.from_array): a graph node there would be taken for a task of its own.
    from dask._task_spec import GraphNode

    from pybuf._dask_node import ByName

    placeholder = ByName(shm._map_buffer, _args(seg))
    assert not isinstance(placeholder, GraphNode)
    assert placeholder.__reduce__() == (shm._rebuild_buffer, _args(seg))
    out = pickle.loads(pickle.dumps(placeholder))
    assert type(out).__name__ == "Buffer" and out.owner.name == seg.name

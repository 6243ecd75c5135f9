"""pybuf Buffers through a real distributed.LocalCluster (2 worker processes).

shm Buffers travel by name (submit, scatter, results) and NumPy views of them
by name where Dask's serializers run (scatter, results); the scheduler, which
runs in this process, maps no segment while it forwards a task; a worker that
cannot attach reports it in the task and keeps running.
"""

import os
import time

import dask
import numpy as np
import pytest
from distributed import Client, Event, LocalCluster
from distributed.protocol.serialize import serialize

import pybuf
from pybuf import shm
from pybuf._shm_host import host_token

TIMEOUT = 30  # seconds: a hang fails the test instead of the suite


@pytest.fixture(scope="module")
def client():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=":0"
    ) as cluster, Client(cluster) as c:
        yield c


def maps_of(name):
    """How many mappings of the segment this process has."""
    with open("/proc/self/maps") as f:
        return sum(f"/dev/shm/{name}" in line for line in f)


def describe(obj):
    owner = getattr(obj, "owner", None)
    if isinstance(obj, np.ndarray):
        base = obj
        while getattr(base, "base", None) is not None and not isinstance(base, memoryview):
            base = base.base
        owner = base.obj.owner if isinstance(base, memoryview) and isinstance(base.obj, pybuf.Buffer) else None
    return type(obj).__name__, type(owner).__name__, getattr(owner, "name", None), float(np.asarray(obj).sum())


def double(buf):
    np.asarray(buf)[:] *= 2
    return buf.readonly


def test_submitted_shm_buffer_is_the_same_pages_in_the_worker(client, seg):
    view = seg.buffer(0, 1000, "<d")
    np.asarray(view)[:] = 1.0
    assert client.submit(describe, view).result(timeout=TIMEOUT) == ("Buffer", "Segment", seg.name, 1000.0)
    assert client.submit(double, view, pure=False).result(timeout=TIMEOUT) is False
    assert np.asarray(view).sum() == 2000.0


def _wait_then_sum(buf, started, go):
    Event(started).set()
    Event(go).wait(TIMEOUT)
    return float(np.asarray(buf).sum())


def test_scheduler_maps_nothing_while_it_forwards_a_task(client, seg):
    # The scheduler runs in this process: its copy of the task must not map the segment.
    view = seg.buffer(0, 100, "<d")
    np.asarray(view)[:] = 3.0
    started, go = Event("pybuf-started"), Event("pybuf-go")
    fut = client.submit(_wait_then_sum, view, "pybuf-started", "pybuf-go")
    assert started.wait(TIMEOUT)  # the scheduler has decoded and forwarded the task
    assert maps_of(seg.name) == 1  # the test's own Segment
    go.set()
    assert fut.result(timeout=TIMEOUT) == 300.0
    assert maps_of(seg.name) == 1


def test_segment_closed_by_its_user_is_held_nowhere_once_the_task_is_gone(client):
    s = shm.create(1 << 20)
    name = s.name
    view = s.buffer(0, 1 << 17, "<d")
    fut = client.submit(describe, view)
    assert fut.result(timeout=TIMEOUT)[:3] == ("Buffer", "Segment", name)
    del fut, view
    s.unlink()
    s.close()
    assert maps_of(name) == 0
    # The workers forget the task once the scheduler tells them: wait for it.
    deadline = time.monotonic() + TIMEOUT
    while sorted(client.run(maps_of, name).values()) != [0, 0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(client.run(maps_of, name).values()) == [0, 0]


def test_scattered_shm_buffer_goes_by_name(client, seg):
    view = seg.buffer(64, (10, 10), "<f4")
    np.asarray(view)[:] = 0.5
    fut = client.scatter(view)
    assert client.submit(describe, fut).result(timeout=TIMEOUT) == ("Buffer", "Segment", seg.name, 50.0)


def test_scattered_numpy_view_of_shm_goes_by_name(client, seg):
    a = np.asarray(seg.buffer(0, (64, 64), "<f8"))[8:16, ::2]
    a[:] = 1.0
    fut = client.scatter(a)
    assert client.submit(describe, fut).result(timeout=TIMEOUT) == ("ndarray", "Segment", seg.name, 256.0)


def test_submitted_numpy_view_of_shm_goes_by_value(client, seg):
    # Dask pickles submit arguments, and an ndarray pickles its bytes.
    a = np.asarray(seg.buffer(0, 100, "<f8"))
    a[:] = 1.0
    assert client.submit(describe, a).result(timeout=TIMEOUT) == ("ndarray", "NoneType", None, 100.0)


def _view_of(name, n):
    return shm.attach(name).buffer(0, n, "<d")


def test_shm_buffer_result_comes_back_by_name(client, seg):
    np.asarray(seg.buffer(0, 10, "<d"))[:] = 4.0
    out = client.submit(_view_of, seg.name, 10).result(timeout=TIMEOUT)
    assert describe(out) == ("Buffer", "Segment", seg.name, 40.0)


def _filled(n):
    out = pybuf.alloc(n, "<d")
    np.asarray(out)[:] = np.arange(n)
    return out


@pytest.mark.parametrize("n", [10, 1 << 17])
def test_plain_buffer_round_trips_by_value(client, n):
    buf = _filled(n)
    expected = float(n * (n - 1) // 2)
    assert client.submit(describe, buf).result(timeout=TIMEOUT) == ("Buffer", "Owner", None, expected)
    assert client.submit(describe, client.scatter(buf)).result(timeout=TIMEOUT) == ("Buffer", "Owner", None, expected)
    out = client.submit(_filled, n).result(timeout=TIMEOUT)
    assert type(out) is pybuf.Buffer and out.readonly is False
    assert float(np.asarray(out).sum()) == expected


def test_strided_buffer_is_scattered_contiguous(client):
    b = pybuf.alloc((4, 6), "<d")
    np.asarray(b)[:] = np.arange(24).reshape(4, 6)
    fut = client.scatter(b.region(8, (4, 2), strides=(48, 16)))
    got = client.submit(lambda x: (x.shape, x.strides, np.asarray(x).tolist()), fut).result(timeout=TIMEOUT)
    assert got == ((4, 2), (16, 8), [[1.0, 3.0], [7.0, 9.0], [13.0, 15.0], [19.0, 21.0]])


def test_name_unlinked_behind_the_senders_back_fails_the_task_not_the_worker(client):
    s = shm.create(4096)
    view = s.buffer(0, 8, "<d")
    pids = client.run(os.getpid)
    shm.unlink(s.name)  # the Segment does not know: it still pickles
    with pytest.raises(shm.SegmentNotFoundError, match=f'name "{s.name}": no such shared-memory segment'):
        client.submit(describe, view).result(timeout=TIMEOUT)
    assert client.run(os.getpid) == pids
    s.close()


def test_serializer_sends_a_name_only_to_a_recipient_with_the_same_dev_shm(seg):
    view = seg.buffer(0, 1000, "<d")
    same = {"recipient": {"pybuf-shm-host": host_token()}}
    header, frames = serialize(view, serializers=["dask"], context=same)
    assert frames == []
    assert header["sub-header"] == {
        "pybuf": "shm",
        "spec": [seg.name, 0, (1000,), view.format, (8,), False],
        "host": host_token(),
    }
    for other in ({"recipient": {"pybuf-shm-host": "another"}}, {"recipient": {}}, None):
        header, frames = serialize(view, serializers=["dask"], context=other)
        assert header["sub-header"]["pybuf"] == "bytes"
        assert [memoryview(f).nbytes for f in frames] == [8000]


def _first(buf):
    return float(np.asarray(buf)[0])


def test_without_the_message_log_a_submitted_buffer_is_not_kept():
    # distributed keeps its last low-level-log-length messages, and a submitted
    # Buffer's frames with them (docs/DISTRIBUTED.md); 0 keeps nothing.
    with dask.config.set({"distributed.admin.low-level-log-length": 0}), LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=":0"
    ) as cluster, Client(cluster) as c:
        buf = pybuf.alloc(100, "<d")
        np.asarray(buf)[:] = 6.0
        assert c.submit(_first, buf).result(timeout=TIMEOUT) == 6.0
        owner = buf.owner
        del buf
        owner.close(strict=True)
        assert owner.released

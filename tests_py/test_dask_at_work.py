"""Dask used past the first tests, against a real LocalCluster (1 worker process,
1 thread): spilling keeps shm keys on their segment, a closed Client holds no
export of what it sent, dask.array takes Buffers, and segments that tasks make
end with the cluster."""

import os
import pickle
import signal
import time

import dask.array as da
import numpy as np
import pytest
from distributed import Client, Event, LocalCluster
from distributed.protocol.pickle import dumps as dask_dumps

import pybuf
import pybuf._distributed
import pybuf.dask
from pybuf import shm

TIMEOUT = 30  # seconds: a hang fails the test instead of the suite
SMALL_CLUSTER = dict(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                     worker_dashboard_address=":0")


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(**SMALL_CLUSTER) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster) as c:
        yield c


def owner_of(obj):
    """(type name of the owner, segment name or None) of a Buffer or an ndarray over one."""
    if isinstance(obj, np.ndarray):
        base = obj
        while getattr(base, "base", None) is not None and not isinstance(base, memoryview):
            base = base.base
        obj = base.obj if isinstance(base, memoryview) else None
    owner = getattr(obj, "owner", None)
    return type(owner).__name__, getattr(owner, "name", None)


# ---------------------------------------------------------------- spilling


def _spill_all(key, dask_worker):
    """Spills every key of the worker; the bytes written for ``key``."""
    while dask_worker.data.fast:
        assert dask_worker.data.evict() >= 0
    return dask_worker.data.disk.data.weight_by_key[key].disk  # the spill file, under zict's cache


def _view(name, n, as_array):
    buf = shm.attach(name).buffer(0, n, "<f8")
    return np.asarray(buf) if as_array else buf


def _write_first(x, value):
    np.asarray(x)[0] = value
    return owner_of(x)


def _spill(client, fut):
    (written,) = client.run(_spill_all, fut.key).values()
    return written


@pytest.mark.parametrize("as_array", [False, True], ids=["Buffer", "ndarray"])
def test_spilled_shm_key_writes_its_name_and_comes_back_on_the_segment(client, as_array):
    with shm.create(8 << 20) as seg:
        try:
            np.asarray(seg.buffer(0, 1 << 20, "<f8"))[:] = 7.0
            fut = client.submit(_view, seg.name, 1 << 20, as_array, pure=False)
            fut.result(timeout=TIMEOUT)
            assert _spill(client, fut) < 1000  # the name, not 8 MiB
            assert client.submit(_write_first, fut, 42.0).result(timeout=TIMEOUT) == ("Segment", seg.name)
            assert np.asarray(seg.buffer(0, 1, "<f8"))[0] == 42.0
        finally:
            seg.unlink()


def _plain(n):
    out = pybuf.alloc(n, "<f8")
    np.asarray(out)[:] = 3.0
    return out


def test_spilled_plain_buffer_writes_its_bytes(client):
    fut = client.submit(_plain, 1 << 17, pure=False)
    fut.result(timeout=TIMEOUT)
    assert _spill(client, fut) >= 1 << 20
    assert client.submit(lambda b: float(np.asarray(b).sum()), fut).result(timeout=TIMEOUT) == 3.0 * (1 << 17)


def test_spilled_key_of_an_unlinked_name_keeps_its_bytes(client):
    seg = shm.create(1 << 20)
    np.asarray(seg.buffer(0, 1 << 17, "<f8"))[:] = 5.0
    fut = client.submit(_view, seg.name, 1 << 17, False, pure=False)
    fut.result(timeout=TIMEOUT)
    seg.unlink()  # the worker's mapping is now all that holds the data
    seg.close()
    assert _spill(client, fut) >= 1 << 20
    assert client.submit(_write_first, fut, 1.0).result(timeout=TIMEOUT) == ("Owner", None)
    assert client.submit(lambda b: float(np.asarray(b).sum()), fut).result(timeout=TIMEOUT) == 5.0 * ((1 << 17) - 1) + 1


# ---------------------------------------------------------------- a closed Client


def _first(buf):
    return float(np.asarray(buf)[0])


def test_closed_client_holds_no_export_of_a_submitted_buffer(cluster):
    with Client(cluster) as c:
        buf = pybuf.alloc(100, "<f8")
        np.asarray(buf)[:] = 6.0
        assert c.submit(_first, buf).result(timeout=TIMEOUT) == 6.0
        owner = buf.owner
        del buf
    # c is still bound, and with it the log of the messages it sent.
    assert len(c.scheduler_comm.recent_message_log) > 0
    owner.close(strict=True)
    assert owner.released


@pytest.mark.parametrize("n, out_of_band", [(100, 0), (pybuf._distributed.LOGGED_MESSAGE_LIMIT // 8 + 1, 1)])
def test_distributed_pickles_small_buffers_in_band(n, out_of_band):
    buf = pybuf.alloc(n, "<f8")
    frames = []
    dask_dumps(buf, buffer_callback=frames.append)
    assert len(frames) == out_of_band
    assert buf.exports == out_of_band
    frames.clear()
    assert buf.exports == 0


def test_plain_pickle_keeps_small_buffers_out_of_band():
    buf = pybuf.alloc(100, "<f8")
    frames = []
    pickle.dumps(buf, protocol=5, buffer_callback=frames.append)
    assert len(frames) == 1


# ---------------------------------------------------------------- dask.array


def test_buffer_has_numpy_dtype_and_indexing():
    buf = pybuf.alloc((4, 6), "<i4")
    np.asarray(buf)[:] = np.arange(24).reshape(4, 6)
    assert buf.dtype == np.dtype("<i4")
    part = buf[1:3, ::2]
    assert part.tolist() == [[6, 8, 10], [12, 14, 16]]
    assert owner_of(part)[0] == "Owner"  # a view, holding the buffer


def test_from_array_of_a_plain_buffer(client):
    buf = pybuf.alloc((64, 32), "<f8")
    np.asarray(buf)[:] = np.arange(64 * 32).reshape(64, 32)
    x = da.from_array(buf, chunks=(16, 32))
    assert x.dtype == np.dtype("<f8") and x.chunks == ((16,) * 4, (32,))
    assert client.compute(x.sum()).result(timeout=TIMEOUT) == float(np.arange(64 * 32).sum())


def chunk_owners(client, x):
    """owner_of() of each chunk, seen in the worker."""
    owners = x.map_blocks(lambda a: np.array([[owner_of(a)[1]]], dtype=object), dtype=object, chunks=(1, 1))
    return client.compute(owners).result(timeout=TIMEOUT).ravel().tolist()


def test_from_array_of_an_shm_buffer_sends_the_name(client, seg):
    buf = seg.buffer(0, (128, 64), "<f8")
    np.asarray(buf)[:] = 1.0
    x = da.from_array(buf, chunks=(32, 64))
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < 8 * 128 * 64 // 4
    assert chunk_owners(client, x) == [seg.name] * 4  # each chunk a view of the segment
    assert client.compute(x.sum()).result(timeout=TIMEOUT) == 128 * 64


def test_from_buffers_makes_one_chunk_per_region(client, seg):
    parts = [seg.buffer(i * 4096, (16, 32), "<f8") for i in range(4)]
    for i, p in enumerate(parts):
        np.asarray(p)[:] = i
    x = pybuf.dask.from_buffers([[parts[0], parts[1]], [parts[2], parts[3]]])
    assert x.chunks == ((16, 16), (32, 32))
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < 4 * 16 * 32 * 8
    assert chunk_owners(client, x) == [seg.name] * 4
    got = client.compute(x).result(timeout=TIMEOUT)
    assert got.tolist() == np.block([[np.full((16, 32), i) for i in r] for r in ((0, 1), (2, 3))]).tolist()


def test_inproc_cluster_hands_tasks_mapped_buffers(seg):
    # processes=False: the scheduler's unpickled objects reach the workers as they are.
    buf = seg.buffer(0, (64, 32), "<f8")
    np.asarray(buf)[:] = 2.0
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        assert c.submit(owner_of, buf).result(timeout=TIMEOUT) == ("Segment", seg.name)
        x = da.from_array(buf, chunks=(16, 32))
        assert chunk_owners(c, x) == [seg.name] * 4
        assert c.compute(x.sum()).result(timeout=TIMEOUT) == 2.0 * 64 * 32


def test_from_buffers_names_what_it_cannot_take():
    with pytest.raises(TypeError, match="blocks: expected Buffers or nested lists of Buffers, not ndarray"):
        pybuf.dask.from_buffers([np.zeros(3)])


# ---------------------------------------------------------------- worker-made segments


def _make_segments_then_wait(kept, started, go):
    shm.create(4096)  # named by the cluster: unlinked with it
    if kept:
        shm.create(4096, name=kept)  # named by the user: kept
    Event(started).set()
    Event(go).wait(TIMEOUT)


def _listed(prefix):
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(prefix))


def _kill(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)


def _stop_restarting(dask_worker):
    dask_worker.close_gracefully()  # what a cluster's shutdown tells its nannies first


def test_segments_of_killed_workers_are_unlinked_when_the_cluster_closes():
    """Worker a is killed and restarted, worker b is killed while its nanny shuts
    down (no restart): each killed mid-task, neither can clean up itself."""
    kept = f"pybuf_test_kept_{os.getpid()}"
    with LocalCluster(**dict(SMALL_CLUSTER, n_workers=2)) as cluster, Client(cluster) as c:
        prefix = pybuf.dask.clean_worker_segments(c)
        assert pybuf.dask.clean_worker_segments(c) == prefix
        pids = c.run(os.getpid)
        a, b = sorted(pids)
        futures = [c.submit(_make_segments_then_wait, kept if w == a else None, f"pybuf-made-{w}", "pybuf-never",
                            workers=[w], pure=False) for w in (a, b)]
        assert all(Event(f"pybuf-made-{w}").wait(TIMEOUT) for w in (a, b))
        assert len(_listed(prefix)) == 2
        c.cancel(futures)  # not run again on the worker a nanny restarts
        c.run(_stop_restarting, workers=[b], nanny=True)
        _kill(pids[b])
        deadline = time.monotonic() + TIMEOUT
        while len(_listed(prefix)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_listed(prefix)) == 1  # b's nanny closed and unlinked b's segment
        _kill(pids[a])
        assert len(_listed(prefix)) == 1
    try:
        assert _listed(prefix) == []
        assert _listed(kept) == [kept]
    finally:
        shm.unlink(kept)


def test_nanny_unlinks_the_segments_of_its_workers_only():
    scope = "feedc0de"
    mine = shm.create(64, name=pybuf.dask._prefix(scope, "tcp://127.0.0.1:1") + "0")
    other = shm.create(64, name=pybuf.dask._prefix(scope, "tcp://127.0.0.1:2") + "0")
    try:
        pybuf.dask._NannySegments(scope).teardown(type("Nanny", (), {"address": "tcp://127.0.0.1:1"})())
        assert _listed(mine.name) == [] and _listed(other.name) == [other.name]
    finally:
        other.unlink()
        mine.close()
        other.close()


def test_outside_a_task_segment_names_are_not_changed(monkeypatch):
    monkeypatch.setattr(shm, "_default_name", pybuf.dask._name_in_task)
    with shm.create(64) as s:
        s.unlink()
    assert s.name.startswith("pybuf_") and not s.name.startswith("pybuf_dask_")


def test_closed_buffer_still_has_its_dtype():
    buf = pybuf.alloc(3, np.dtype([("a", "<i4"), ("b", "<f8")]))
    buf.owner.close()
    assert buf.dtype == np.dtype([("a", "<i4"), ("b", "<f8")])
    with pytest.raises(BufferError):
        buf[0]

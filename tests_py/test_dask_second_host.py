"""A worker with its own /dev/shm stands for a worker on another host.

It runs under ``unshare -m`` with a fresh tmpfs mounted on /dev/shm (this
needs root, as the test machines run), connected to a LocalCluster's
scheduler. shm Buffers must reach it as bytes where Dask's serializers run
(scatter, results), and as a clear error in the task where Dask pickles
(submit); it must keep running either way.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from distributed import Client, LocalCluster

import pybuf
from pybuf import shm

TIMEOUT = 30


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", worker_dashboard_address=":0"
    ) as cluster, Client(cluster) as client:
        worker = (
            f"{sys.executable} -m distributed.cli.dask_worker {cluster.scheduler_address} "
            "--nthreads 1 --no-nanny --no-dashboard --name elsewhere"
        )
        # The worker unpickles this module's functions: it needs the tests on its path.
        env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
        proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs /dev/shm && exec {worker}"], env=env
        )
        try:
            client.wait_for_workers(2, timeout=TIMEOUT)
            (elsewhere,) = [a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "elsewhere"]
            yield client, elsewhere
            client.retire_workers([elsewhere], close_workers=True)
        finally:
            try:
                proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def describe(obj):
    return type(obj).__name__, type(getattr(obj, "owner", None)).__name__, float(np.asarray(obj).sum())


def _dev_shm_device():
    return os.stat("/dev/shm").st_dev


def test_the_worker_has_its_own_dev_shm(cluster):
    client, elsewhere = cluster
    assert client.run(_dev_shm_device, workers=[elsewhere])[elsewhere] != os.stat("/dev/shm").st_dev


def test_submitted_shm_buffer_is_a_clear_error_in_the_task_and_the_worker_survives(cluster, seg):
    client, elsewhere = cluster
    pid = client.run(os.getpid, workers=[elsewhere])
    view = seg.buffer(0, 100, "<d")
    fut = client.submit(describe, view, workers=[elsewhere])
    with pytest.raises(shm.SegmentNotFoundError) as raised:
        fut.result(timeout=TIMEOUT)
    assert str(raised.value) == (
        f'name "{seg.name}": the segment lives in the shared memory of another host or container '
        "(another /dev/shm); pybuf.shm objects travel by name only between processes that share /dev/shm"
    )
    assert isinstance(raised.value, FileNotFoundError) and isinstance(raised.value, ValueError)
    assert client.run(os.getpid, workers=[elsewhere]) == pid
    assert client.submit(sum, [1, 2], workers=[elsewhere], pure=False).result(timeout=TIMEOUT) == 3


def test_shm_buffer_scattered_straight_to_it_arrives_as_bytes(cluster, seg):
    client, elsewhere = cluster
    view = seg.buffer(0, 100, "<d")
    np.asarray(view)[:] = 2.0
    fut = client.scatter(view, workers=[elsewhere], direct=True)
    assert client.submit(describe, fut, workers=[elsewhere]).result(timeout=TIMEOUT) == ("Buffer", "Owner", 200.0)


def test_numpy_view_of_shm_scattered_straight_to_it_arrives_as_bytes(cluster, seg):
    client, elsewhere = cluster
    a = np.asarray(seg.buffer(0, 100, "<d"))
    a[:] = 3.0
    fut = client.scatter(a, workers=[elsewhere], direct=True)
    got = client.submit(lambda x: (type(x).__name__, x.flags.writeable, float(x.sum())), fut, workers=[elsewhere])
    assert got.result(timeout=TIMEOUT) == ("ndarray", True, 300.0)


def _shm_result(n):
    seg = shm.create(8 * n)
    try:
        out = seg.buffer(0, n, "<d")
        np.asarray(out)[:] = 5.0
        return out
    finally:
        seg.unlink()  # its buffer keeps the mapping; only the name goes


def test_shm_buffer_result_from_it_arrives_as_bytes(cluster):
    client, elsewhere = cluster
    out = client.submit(_shm_result, 10, workers=[elsewhere]).result(timeout=TIMEOUT)
    assert describe(out) == ("Buffer", "Owner", 50.0)
    assert isinstance(out, pybuf.Buffer) and out.readonly is False


def test_shm_buffer_scattered_through_the_scheduler_fails_the_task_that_uses_it(cluster, seg):
    # Without direct=True the scheduler, which shares the client's /dev/shm,
    # receives the name and forwards it undecoded (docs/DISTRIBUTED.md).
    client, elsewhere = cluster
    pid = client.run(os.getpid, workers=[elsewhere])
    fut = client.scatter(seg.buffer(0, 100, "<d"), workers=[elsewhere], hash=False)
    with pytest.raises(shm.SegmentNotFoundError, match="another host or container"):
        client.submit(describe, fut, workers=[elsewhere]).result(timeout=TIMEOUT)
    assert client.run(os.getpid, workers=[elsewhere]) == pid

"""pybuf Buffers through a real local Ray: the object store, task arguments
and task results. One Ray instance (one worker process) serves the module."""

import numpy as np
import pytest
import ray  # requirements-dev.txt installs it: a missing Ray fails, never skips

import pybuf
from pybuf import shm

# Ray keeps objects under 100 KiB inside its messages and larger ones in the
# shared-memory object store; both paths are covered.
SMALL = 1000
LARGE = 1 << 17  # 1 MiB of float64


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _filled(n):
    buf = pybuf.alloc(n, "<d")
    np.asarray(buf)[:] = np.arange(n, dtype="<d")
    return buf


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_put_get_gives_a_read_only_buffer_with_the_same_values(ray_session, n):
    buf = _filled(n)
    out = ray.get(ray.put(buf))
    assert type(out) is pybuf.Buffer
    assert out.readonly is True
    assert out.shape == (n,) and out.format == buf.format
    assert np.array_equal(np.asarray(out), np.arange(n, dtype="<d"))


def test_large_buffer_is_read_from_the_object_store_without_a_copy(ray_session):
    ref = ray.put(_filled(LARGE))
    first, second = ray.get(ref), ray.get(ref)
    assert first.address == second.address  # both look into the store's one copy


@ray.remote
def _describe(buf):
    a = np.asarray(buf)
    return type(buf).__name__, buf.readonly, buf.shape, float(a.sum())


@ray.remote
def _made_in_worker(n):
    out = pybuf.alloc(n, "<d")
    np.asarray(out)[:] = 2.0
    return out


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_buffer_is_a_task_argument(ray_session, n):
    assert ray.get(_describe.remote(_filled(n))) == ("Buffer", True, (n,), float(n * (n - 1) // 2))


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_buffer_is_a_task_result(ray_session, n):
    out = ray.get(_made_in_worker.remote(n))
    assert type(out) is pybuf.Buffer
    assert out.shape == (n,)
    assert float(np.asarray(out).sum()) == 2.0 * n


@ray.remote
def _double_in_place(buf):
    np.asarray(buf)[:] *= 2
    return buf.readonly


def test_shm_buffer_travels_by_name_and_the_worker_writes_the_same_pages(ray_session):
    with shm.create(8 * SMALL) as seg:
        try:
            view = seg.buffer(0, SMALL, "<d")
            np.asarray(view)[:] = np.arange(SMALL, dtype="<d")
            assert ray.get(_double_in_place.remote(view)) is False
            assert np.array_equal(np.asarray(view), 2 * np.arange(SMALL, dtype="<d"))
        finally:
            seg.unlink()

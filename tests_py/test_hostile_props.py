"""Property tests with hostile objects (hostile.py) at every entry point: shapes and
strides whose items raise, lie, overflow or mutate their list; dtype-likes that raise;
exporters resized or closed while wrapped; releases that raise, exit, collect, re-enter
pybuf or close other owners; ctypes and cffi `arg`s the caller drops at once.

The promise under test: a Python exception (never SystemError) or a correct result,
never a crash, and every owner released exactly once. A crash kills this process: that
is a failure too (stress.py runs the state machine with the same objects in subprocesses).
"""
import contextlib
import gc
import sys
import weakref

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import pybuf  # noqa: E402
from fakehelp import Calls  # noqa: E402
from hostile import (ATTACKS, HUGE, HUGE_ALLOC, INDEX_MODES, RELEASE_MODES,  # noqa: E402
                     HostileRelease, Index, args, dims, dtype_likes, exporter_round, exporters,
                     hostile_exception, random_offset, reads_within, seeded)

NINTS = 1024
FMTS = {"B": 1, "h": 2, "i": 4, "d": 8}
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def frozen():
    """The collections these tests run look at their own objects only: what exists before
    them is frozen (a full collection of the pytest process costs ~100 ms)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def area(fake):
    h = fake.create_ints(NINTS)
    return h, np.arange(NINTS, dtype=np.int32).view(np.uint8).copy()


@contextlib.contextmanager
def unraisables():
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_value)
    try:
        yield seen
    finally:
        sys.unraisablehook = old


def refused(e):
    """An exception is a fine answer to hostile input, but never SystemError: that is a
    C function returning an error without setting one (or the reverse)."""
    assert not isinstance(e, SystemError), repr(e)
    assert isinstance(e, Exception), repr(e)


def reads_like_numpy(buf, ref, base):
    reads_within(buf, ref.tobytes(), base)


@SETTINGS
@given(dims(huge=HUGE_ALLOC), st.sampled_from(sorted(FMTS)))
def test_alloc_hostile_shape(shape, fmt):
    try:
        buf = pybuf.alloc(shape.make(), fmt, name="hostile-alloc")
    except Exception as e:
        refused(e)
        return
    assert all(type(n) is int and n >= 0 for n in buf.shape)
    assert buf.nbytes == FMTS[fmt] * int(np.prod(buf.shape, dtype=object))
    if buf.nbytes <= 1 << 16:
        assert not any(np.asarray(buf).tobytes())
    ref = weakref.ref(buf.owner)
    del buf
    assert ref() is None


def addresses(ptr):
    return st.one_of(st.just(ptr), st.builds(lambda m, big: Index(m, big if m == "huge" else ptr),
                                             st.sampled_from(INDEX_MODES), st.sampled_from(HUGE)))


@SETTINGS
@given(st.data(), dims(), st.one_of(st.none(), dims(small=(-8, 8))),
       st.sampled_from(sorted(FMTS)))
def test_wrap_hostile_layout(area, data, shape, strides, fmt):
    h, ref = area
    mid = h.ptr + 2 * NINTS
    address = data.draw(addresses(mid))
    release = Calls()
    try:
        buf = pybuf.wrap(address, shape.make(), fmt, release=release, name="hostile-wrap",
                         strides=None if strides is None else strides.make())
    except Exception as e:
        refused(e)
        gc.collect()
        assert release.calls == 0, "wrap raised, yet took ownership"
        return
    reads_like_numpy(buf, ref, h.ptr)
    assert release.calls == 0
    del buf
    assert release.calls == 1


@SETTINGS
@given(st.data(), dims(), st.one_of(st.none(), dims(small=(-8, 8))),
       st.sampled_from([None] + sorted(FMTS)))
def test_region_hostile_layout(area, data, shape, strides, fmt):
    h, ref = area
    release = Calls()
    parent = pybuf.wrap(h.ptr, 4 * NINTS, "B", release=release, name="hostile-region")
    offset = data.draw(seeded(random_offset, 4 * NINTS))
    try:
        r = parent.region(offset, shape.make(), fmt,
                          strides=None if strides is None else strides.make())
    except Exception as e:
        refused(e)
        r = None
    if r is not None:
        lo = sum((n - 1) * s for n, s in zip(r.shape, r.strides) if s < 0)
        hi = sum((n - 1) * s for n, s in zip(r.shape, r.strides) if s > 0) + r.itemsize
        if 0 not in r.shape:
            assert r.address + lo >= h.ptr and r.address + hi <= h.ptr + 4 * NINTS, \
                "a region outside its parent"
        reads_like_numpy(r, ref, h.ptr)
    del parent, r
    assert release.calls == 1


@SETTINGS
@given(dtype_likes(), st.integers(0, 4))
def test_buffer_hostile_dtype(area, dtype, n):
    h, ref = area
    release = Calls()
    owner = pybuf.Owner(release=release, name="hostile-dtype")
    try:
        buf = owner.buffer(h.ptr, n, dtype.make(), readonly=True)
    except Exception as e:
        refused(e)
    else:
        reads_like_numpy(buf, ref, h.ptr)
        del buf
    del owner
    assert release.calls == 1


@SETTINGS
@given(exporters(), st.sampled_from(ATTACKS), st.sampled_from([None, True, False]),
       st.booleans())
def test_from_buffer_hostile_exporter(exporter, attack, readonly, array_last):
    with unraisables() as seen:
        expected, _ = exporter_round(exporter, attack, readonly, array_last)
    assert [type(e).__name__ for e in seen] == ["HostileError"] * expected, seen


@settings(SETTINGS, max_examples=100)   # two full collections each
@given(st.sampled_from(RELEASE_MODES), st.sampled_from(["drop", "close", "cycle"]),
       st.integers(0, 2), st.integers(0, 2))
def test_hostile_release(fake, mode, end, nbuffers, nothers):
    h = fake.create_ints(16)
    calls = []
    others = [pybuf.Owner(release=Calls(), name="hostile-other") for _ in range(nothers)]
    rel = HostileRelease(mode, lambda: (calls.append(1), fake.lib.fake_destroy(h.h)),
                         closes=lambda: others)
    with unraisables() as seen:
        o = pybuf.Owner(release=rel, name="hostile-release")
        views = [np.asarray(o.buffer(h.ptr, 16, "i")) for _ in range(nbuffers)]
        assert all(v.tolist() == list(range(16)) for v in views)
        raised = None
        if end == "close":
            try:
                o.close()
            except BaseException as e:      # HostileExit is a SystemExit
                assert hostile_exception(e), repr(e)
                raised = e
        elif end == "cycle":
            box = [o]
            box.append(box)
            del box
        del o
        views.clear()
        gc.collect()
        gc.collect()
        assert calls == [1] and rel.calls == 1 and h.destroys == 1
        if mode == "closes_others":
            assert all(x.closed and x.released for x in others)
        expected = mode in ("raises", "exit")
        reported = [e for e in seen if hostile_exception(e)]
        assert len(reported) + (raised is not None) == (1 if expected else 0), (seen, raised)
        assert len(reported) == len(seen), seen
        if raised is not None:
            assert end == "close" and nbuffers == 0
    for x in others:
        x.close()


@SETTINGS
@given(args(), st.sampled_from(["drop", "close", "cycle"]))
def test_arg_dropped_early(fake, arg, end):
    h = fake.create_ints(16)
    a, probe, release = arg.make(h.h, fake.path, fake.lib)
    with unraisables() as seen:
        o = pybuf.Owner(release=release, arg=a, name="hostile-arg")
        view = np.asarray(o.buffer(h.ptr, 16, "i"))
        del a
        gc.collect()
        assert probe() is not None, f"{arg}: freed while its owner is open"
        if end == "close":
            o.close()
        elif end == "cycle":
            box = [o]
            box.append(box)
            del box
        del o
        gc.collect()
        assert probe() is not None, f"{arg}: freed while a view is alive"
        assert view.tolist() == list(range(16))
        del view
        gc.collect()
        gc.collect()
        assert h.destroys == 1
        assert probe() is None, f"{arg}: kept after the release"
    assert not seen, seen

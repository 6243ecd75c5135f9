"""pybuf.shm: segments as owners, across processes, with clear errors."""
import gc
import os
import pickle
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import pybuf
from pybuf import shm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="POSIX shared memory in /dev/shm, /proc/self/maps")


def exists(name):
    return os.path.exists(f"/dev/shm/{name}")


def unique_name():
    return f"pybuf_test_{uuid.uuid4().hex[:12]}"


def maps_line(address, name):
    """The /proc/self/maps line of the mapping of segment `name` at `address`, or None."""
    start = f"{address:x}-"
    with open("/proc/self/maps") as f:
        return next((line for line in f if line.startswith(start) and f"/dev/shm/{name}" in line), None)


def mapped(seg):
    """Whether this process still maps the segment's memory at its address."""
    return maps_line(seg._address, seg.name) is not None


@pytest.fixture
def segments():
    """create(...) that unlinks every segment it made when the test ends."""
    made = []

    def make(size, **kw):
        seg = shm.create(size, **kw)
        made.append(seg.name)
        return seg

    yield make
    for name in made:
        shm.unlink(name)
    gc.collect()


def run_script(tmp_path, body, *args, timeout=120):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                       timeout=timeout, cwd=str(tmp_path))
    assert p.returncode == 0, f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


# --- basics -------------------------------------------------------------------

def test_create_is_a_zero_filled_owner(segments):
    seg = segments(1000)
    assert isinstance(seg, pybuf.Owner)
    assert seg.name.startswith("pybuf_") and exists(seg.name)
    assert seg.size == 1000 and not seg.readonly and not seg.closed
    a = np.asarray(seg.buffer(0, 1000))
    assert a.dtype == np.uint8 and not a.any()
    assert seg.name in repr(seg) and "1000 bytes" in repr(seg)
    info = [i for i in pybuf.live() if i.name == seg.name]
    assert [(i.nbytes, i.buffers) for i in info] == [(1000, 1)]


def test_named_create_drops_one_leading_slash(segments):
    name = unique_name()
    seg = segments(64, name="/" + name)
    assert seg.name == name and exists(name)


def test_typed_views_share_memory_between_mappings(segments):
    seg = segments(4096)
    frames = np.asarray(seg.buffer(64, (4, 8), "<f8"))
    frames[:] = np.arange(32).reshape(4, 8)
    other = shm.attach(seg.name)
    view = np.asarray(other.buffer(64 + 8 * 8, 8, np.float64))
    assert view.tolist() == list(range(8, 16))
    view[0] = -1
    assert frames[1, 0] == -1
    col = np.asarray(seg.buffer(64 + 8 * 3 + 8 * 24, 4, "<f8", strides=(-64,)))
    assert col.tolist() == [27, 19, 11, 3]


def test_segment_is_made_only_by_create_or_attach():
    with pytest.raises(TypeError, match="create.*attach"):
        shm.Segment()


def test_import_loads_no_go(tmp_path):
    p = run_script(tmp_path, """
        import pybuf.shm
        maps = open("/proc/self/maps").read()
        print("CORE", "_pybuf_core" in maps)
    """)
    assert "CORE False" in p.stdout


# --- lifetime -----------------------------------------------------------------

def test_close_with_live_views_defers_the_unmap(segments):
    seg = segments(8192)
    a = np.asarray(seg.buffer(0, 1024, "i"))
    a[:] = 5
    seg.close()
    assert seg.closed and not seg.released
    with pytest.raises(BufferError, match="closed"):
        seg.buffer(0, 4)
    assert mapped(seg), "a live view keeps the mapping"
    assert a.sum() == 5 * 1024
    with pytest.raises(BufferError, match="1 buffer"):
        seg.close(strict=True)
    del a
    gc.collect()
    assert seg.released and not mapped(seg), "unmapped after the last view"
    assert exists(seg.name), "close() unmaps; only unlink() removes the name"


def test_close_strict_without_views_unmaps_now(segments):
    seg = segments(4096)
    seg.close(strict=True)
    assert seg.released and not mapped(seg)


def test_with_closes(segments):
    seg = segments(4096)
    with seg as s:
        a = np.asarray(s.buffer(0, 16))
    assert seg.closed and mapped(seg)
    del a
    assert not mapped(seg)


def test_garbage_segment_unmaps_after_last_view(segments):
    seg = segments(4096)
    addr, name = seg._address, seg.name
    a = np.asarray(seg.buffer(0, 16))
    del seg
    gc.collect()
    assert maps_line(addr, name)
    del a
    gc.collect()
    assert maps_line(addr, name) is None


def test_unlink_is_idempotent_and_keeps_mappings(segments):
    seg = segments(4096)
    a = np.asarray(seg.buffer(0, 4, "i"))
    seg.unlink()
    seg.unlink()
    assert not exists(seg.name)
    a[:] = 9
    assert a.tolist() == [9] * 4
    with pytest.raises(ValueError, match="no such shared-memory segment"):
        shm.attach(seg.name)


def test_unlink_once_never_removes_a_later_segment_of_the_same_name(segments):
    name = unique_name()
    first = segments(64, name=name)
    first.unlink()
    second = segments(64, name=name)
    first.unlink()
    assert exists(name) and second.name == name


# --- across processes -----------------------------------------------------------

TWO_PROCESSES = """
    import sys
    import numpy as np
    from pybuf import shm
    seg = shm.attach(sys.argv[1])
    a = np.asarray(seg.buffer(0, (2, 100), "<i8"))
    print("SEEN", int(a[0].sum()))
    a[1] = a[0] * 2
    sys.stdout.flush()
    line = sys.stdin.readline()          # the parent unlinks, then writes
    print("AFTER_UNLINK", int(a[0, 0]))
    a[1, 0] = 12345
"""


def test_two_processes_write_and_read_one_segment(segments, tmp_path):
    seg = segments(1600)
    a = np.asarray(seg.buffer(0, (2, 100), "<i8"))
    a[0] = np.arange(100)
    (tmp_path / "child.py").write_text(textwrap.dedent(TWO_PROCESSES))
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), seg.name],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().split() == ["SEEN", str(sum(range(100)))]
        # unlink while the child still has it attached: its mapping stays valid
        seg.unlink()
        a[0, 0] = 777
        child.stdin.write("go\n")
        child.stdin.flush()
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0
    assert "AFTER_UNLINK 777" in out
    assert a[1, 1:].tolist() == [2 * i for i in range(1, 100)]
    assert a[1, 0] == 12345


POOL_SCRIPT = """
    import sys, warnings
    import numpy as np
    import multiprocessing as mp
    from pybuf import shm

    def work(args):
        seg, row = args                     # a Segment: arrives as its name
        frames = np.asarray(seg.buffer(0, (4, 256), "<f4"))
        frames[row] += 1                    # in place, seen by the parent
        return float(frames[row].sum())

    def work_on_view(buf):                  # a Buffer: arrives as (name, offset, layout)
        a = np.asarray(buf)
        return a.shape, float(a.sum()), bool(a.flags.writeable)

    if __name__ == "__main__":
        warnings.simplefilter("error")
        ctx = mp.get_context(sys.argv[1])
        seg = shm.create(4 * 256 * 4)
        frames = np.asarray(seg.buffer(0, (4, 256), "<f4"))
        frames[:] = 1
        ro = seg.buffer(256 * 4, (2, 128), "<f4", readonly=True)   # row 1, 2.0 after the pool
        with ctx.Pool(2) as pool:
            sums = pool.map(work, [(seg, r) for r in range(4)], chunksize=1)
            view = pool.apply(work_on_view, (ro,))
        p = ctx.Process(target=work, args=((seg, 0),))
        p.start(); p.join()
        print("SUMS", sums, "EXITCODE", p.exitcode)
        print("VIEW", view)
        print("PARENT", frames.sum(axis=1).tolist())
        print("EXISTS", __import__("os").path.exists("/dev/shm/" + seg.name))
        seg.unlink()
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_pool_and_process_workers(tmp_path, method):
    p = run_script(tmp_path, POOL_SCRIPT, method, timeout=240)
    assert "SUMS [512.0, 512.0, 512.0, 512.0] EXITCODE 0" in p.stdout, p.stdout
    assert "VIEW ((2, 128), 512.0, False)" in p.stdout, p.stdout
    assert "PARENT [768.0, 512.0, 512.0, 512.0]" in p.stdout, p.stdout
    assert "EXISTS True" in p.stdout, "no worker unlinked the segment"
    assert "resource_tracker" not in p.stderr and "leaked" not in p.stderr, p.stderr


FORK_SCRIPT = """
    import os, pickle
    import numpy as np
    import multiprocessing as mp
    import pybuf
    from pybuf import shm

    seg = shm.create(4096)                 # the Go core runs from here on
    a = np.asarray(seg.buffer(0, 16, "i"))
    a[:] = 3

    def child(conn):
        res = {"read": int(a.sum())}
        a[0] = 100                          # inherited views work
        for what, f in [("buffer", lambda: seg.buffer(0, 4)),
                        ("attach", lambda: shm.attach(seg.name)),
                        ("unpickle", lambda: pickle.loads(pickle.dumps(seg))),
                        ("unlink", lambda: seg.unlink())]:
            try:
                f()
                res[what] = "no error"
            except pybuf.ForkError as e:
                res[what] = "ForkError" if "spawn" in str(e) else str(e)
        seg.close()
        res["closed"] = seg.closed
        conn.send(res)

    if __name__ == "__main__":
        ctx = mp.get_context("fork")
        r, w = ctx.Pipe()
        p = ctx.Process(target=child, args=(w,))
        p.start(); res = r.recv(); p.join()
        print("CHILD", sorted(res.items()))
        print("PARENT", int(a[0]), seg.closed, os.path.exists("/dev/shm/" + seg.name))
        seg.unlink()
"""


def test_fork_after_go_inherited_views_work_go_raises(tmp_path):
    p = run_script(tmp_path, FORK_SCRIPT)
    assert ("CHILD [('attach', 'ForkError'), ('buffer', 'ForkError'), ('closed', True), "
            "('read', 48), ('unlink', 'ForkError'), ('unpickle', 'ForkError')]") in p.stdout, p.stdout
    assert "PARENT 100 False True" in p.stdout, p.stdout


# --- pickling -----------------------------------------------------------------

def test_segment_pickles_as_its_name(segments):
    seg = segments(1 << 20)
    data = pickle.dumps(seg)
    assert len(data) < 200 and seg.name.encode() in data
    copy = pickle.loads(data)
    assert isinstance(copy, shm.Segment) and copy is not seg
    assert copy.name == seg.name and copy.size == seg.size and copy._address != seg._address
    np.asarray(copy.buffer(0, 4))[:] = 7
    assert np.asarray(seg.buffer(0, 4)).tolist() == [7] * 4


def test_buffer_pickles_as_name_offset_and_layout(segments):
    seg = segments(1 << 20)
    # offset counts to element (0, 0), here the highest row
    buf = seg.buffer(4096 + 255 * 2048, (256, 256), "<f8", strides=(-2048, 8))
    np.asarray(buf)[:] = np.arange(256)[:, None]
    for protocol in (2, 5):
        data = pickle.dumps(buf, protocol=protocol)
        assert len(data) < 400, "the bytes do not travel"
        back = pickle.loads(data)
        assert isinstance(back.owner, shm.Segment) and back.owner.name == seg.name
        assert (back.shape, back.strides, back.format, back.readonly) == \
            ((256, 256), (-2048, 8), buf.format, False)
        assert back.address - back.owner._address == buf.address - seg._address
        assert np.array_equal(np.asarray(back), np.asarray(buf))
    ro = pickle.loads(pickle.dumps(seg.buffer(0, 8, readonly=True)))
    assert ro.readonly and ro.owner.readonly


def test_pickling_closed_or_unlinked_segments_is_refused(segments):
    seg = segments(64)
    buf = seg.buffer(0, 8)
    seg.unlink()
    with pytest.raises(ValueError, match="unlinked"):
        pickle.dumps(seg)
    with pytest.raises(ValueError, match="unlinked"):
        pickle.dumps(buf)
    seg2 = segments(64)
    seg2.close()
    with pytest.raises(BufferError, match="closed"):
        pickle.dumps(seg2)


# --- clear errors -------------------------------------------------------------

def test_attach_missing_name():
    with pytest.raises(shm.SegmentNotFoundError, match=r'name "pybuf_test_nope": no such shared-memory segment') as e:
        shm.attach("pybuf_test_nope")
    # what SharedMemory users catch, and what the other bad names raise
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize("name", ["a/b", "/a/b", "../etc/passwd", "", "/"])
def test_bad_names(name):
    with pytest.raises(ValueError, match="^name"):
        shm.attach(name)
    with pytest.raises(ValueError, match="^name"):
        shm.create(64, name=name)


def test_create_bad_arguments(segments):
    with pytest.raises(ValueError, match="^size must be at least 1 byte, not 0"):
        shm.create(0)
    with pytest.raises(ValueError, match="^size"):
        shm.create(-1)
    with pytest.raises(OverflowError, match="^size"):
        shm.create(1 << 64)
    with pytest.raises(OverflowError, match="^size"):
        shm.create(1 << 63)
    with pytest.raises(TypeError, match="^size must be an int"):
        shm.create(1.5)
    with pytest.raises(TypeError, match="^name must be a str"):
        shm.create(64, name=b"x")
    with pytest.raises(ValueError, match="^mode"):
        shm.create(64, mode=0o4777)
    seg = segments(64)
    with pytest.raises(ValueError, match="already exists"):
        shm.create(64, name=seg.name)


def test_create_larger_than_dev_shm_fails_cleanly():
    st = os.statvfs("/dev/shm")
    with pytest.raises(ValueError, match="^size .*not enough room"):
        shm.create(st.f_blocks * st.f_frsize + (1 << 30))


def test_buffer_past_the_end(segments):
    seg = segments(100)
    seg.buffer(96, 1, "i")
    for offset, shape, dtype in [(97, 1, "i"), (0, 101, "B"), (100, 1, "B"), (0, 13, "<d")]:
        with pytest.raises(ValueError):
            seg.buffer(offset, shape, dtype)
    with pytest.raises(ValueError):
        seg.buffer(-1, 1)
    with pytest.raises(ValueError):
        seg.buffer(0, 2, "<d", strides=(-8,))  # element 1 would be before the start


def test_readonly_attach_refuses_writes(segments):
    seg = segments(4096)
    np.asarray(seg.buffer(0, 4, "i"))[:] = 1
    ro = shm.attach(seg.name, readonly=True)
    assert ro.readonly and "read-only" in repr(ro)
    buf = ro.buffer(0, 4, "i")
    assert buf.readonly
    a = np.asarray(buf)
    assert a.tolist() == [1] * 4
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 2
    with pytest.raises(TypeError):
        memoryview(buf)[0] = 2
    with pytest.raises(BufferError, match="readonly=False.*read-only"):
        ro.buffer(0, 4, "i", readonly=False)
    assert " r--s " in maps_line(ro._address, ro.name), "mapped without write permission"

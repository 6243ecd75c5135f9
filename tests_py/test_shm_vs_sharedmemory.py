"""The test_shm scenarios run against multiprocessing.shared_memory, side by side.

Each test shows what pybuf.shm does and what SharedMemory does in the same
situation; the SharedMemory halves document its failures (they pass when it
fails the way it does today). docs/SHARED_MEMORY.md summarises them.
"""
import inspect
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import uuid
from multiprocessing import resource_tracker, shared_memory

import numpy as np
import pytest

from pybuf import shm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="POSIX shared memory in /dev/shm")


def exists(name):
    return os.path.exists(f"/dev/shm/{name.lstrip('/')}")


def run(tmp_path, body, *args):
    script = tmp_path / f"s_{uuid.uuid4().hex[:8]}.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path))


@pytest.fixture
def names():
    """pybuf segment names to unlink at the end of the test."""
    made = []
    yield made
    for name in made:
        shm.unlink(name)


@pytest.fixture
def sm(monkeypatch):
    """SharedMemory(...) that leaves nothing behind. This process's resource
    tracker is kept out of it: it would unlink every name again, with
    warnings, when pytest exits (subprocesses keep the real behaviour)."""
    monkeypatch.setattr(resource_tracker, "register", lambda name, rtype: None)
    monkeypatch.setattr(resource_tracker, "unregister", lambda name, rtype: None)
    made = []

    def make(*args, **kw):
        s = shared_memory.SharedMemory(*args, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            s.close()
        except BufferError:
            pass
        shm.unlink(s.name)


# --- two processes ------------------------------------------------------------

ATTACH_WRITE_EXIT = {
    "pybuf": """
        import sys, numpy as np
        from pybuf import shm
        seg = shm.attach(sys.argv[1])
        np.asarray(seg.buffer(0, 8))[:] = 42
    """,
    "SharedMemory": """
        import sys, numpy as np
        from multiprocessing import resource_tracker, shared_memory
        s = shared_memory.SharedMemory(sys.argv[1])
        np.frombuffer(s.buf, "B", 8)[:] = 42
        s.close()
    """,
}


def test_two_processes_pybuf(tmp_path, names):
    seg = shm.create(4096)
    names.append(seg.name)
    p = run(tmp_path, ATTACH_WRITE_EXIT["pybuf"], seg.name)
    assert p.returncode == 0, p.stderr
    assert np.asarray(seg.buffer(0, 8)).tolist() == [42] * 8
    assert exists(seg.name), "the segment outlives a process that attached to it"
    assert p.stderr == ""


def test_two_processes_sharedmemory_unlinks_behind_the_creators_back(tmp_path, names, sm):
    s = sm(create=True, size=4096)
    p = run(tmp_path, ATTACH_WRITE_EXIT["SharedMemory"], s.name)
    assert p.returncode == 0, p.stderr
    assert bytes(s.buf[:8]) == b"\x2a" * 8
    # FAILURE: the attaching process registered the segment with its own
    # resource tracker, which unlinked it (and warned) when that process ended.
    assert not exists(s.name)
    assert "leaked shared_memory" in p.stderr
    s.close()


# --- close with live views ----------------------------------------------------

def test_close_with_views_pybuf_defers_the_unmap(names):
    seg = shm.create(4096)
    names.append(seg.name)
    buf = seg.buffer(0, 16)
    held_by_reference = np.ndarray(16, "B", buffer=buf)  # a reference, no export
    exported = np.frombuffer(buf, "B")                   # an export
    del buf
    held_by_reference[:] = 1
    seg.close()                                          # never raises, never unmaps early
    assert held_by_reference.sum() == 16 and exported.sum() == 16
    del held_by_reference, exported
    assert seg.released


def test_close_with_views_sharedmemory_raises(names, sm):
    s = sm(create=True, size=4096)
    a = np.frombuffer(s.buf, "B")
    # FAILURE: close() cannot wait for the view; the caller must find and
    # drop every array first (and __del__ reports the same error at exit).
    with pytest.raises(BufferError, match="exported pointers exist"):
        s.close()
    del a
    s.close()


def test_close_with_views_sharedmemory_unmaps_under_an_ndarray(tmp_path):
    p = run(tmp_path, """
        import numpy as np
        from multiprocessing import resource_tracker, shared_memory
        s = shared_memory.SharedMemory(create=True, size=4096)
        s.unlink()
        a = np.ndarray(16, "B", buffer=s.buf)   # holds the memoryview, not an export
        s.close()                               # succeeds: munmap under the array
        print("closed", flush=True)
        print(a.sum())
    """)
    # FAILURE: the process dies reading unmapped memory.
    assert p.returncode == -signal.SIGSEGV, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "closed\n"


# --- unlink -------------------------------------------------------------------

def test_unlink_twice(names, sm):
    seg = shm.create(64)
    seg.unlink()
    seg.unlink()                                 # pybuf: idempotent
    s = sm(create=True, size=64)
    s.unlink()
    # FAILURE (minor): a second unlink raises.
    with pytest.raises(FileNotFoundError):
        s.unlink()
    s.close()


def test_unlink_while_attached_both_keep_the_memory(names, sm):
    seg = shm.create(64)
    other = shm.attach(seg.name)
    seg.unlink()
    np.asarray(seg.buffer(0, 1))[0] = 5
    assert np.asarray(other.buffer(0, 1))[0] == 5

    s = sm(create=True, size=64)
    t = sm(s.name)
    s.unlink()
    s.buf[0] = 5
    assert t.buf[0] == 5
    t.close()
    s.close()


# --- clear errors -------------------------------------------------------------

def test_attach_missing_name(sm):
    with pytest.raises(ValueError, match="no such shared-memory segment"):
        shm.attach("pybuf_test_missing")
    with pytest.raises(FileNotFoundError):
        sm("pybuf_test_missing")


def test_name_with_a_slash_inside(sm):
    with pytest.raises(ValueError, match="'/' is only allowed as the first character"):
        shm.create(64, name="a/b")
    # FAILURE (message): the OS error does not say what is wrong with the name.
    with pytest.raises(OSError, match="Invalid argument") as e:
        sm("a/b", create=True, size=64)
    assert "name" not in str(e.value)


def test_create_zero(sm):
    with pytest.raises(ValueError, match="^size"):
        shm.create(0)
    with pytest.raises(ValueError, match="size"):
        sm(create=True, size=0)


def test_view_past_the_end(names, sm):
    seg = shm.create(100)
    names.append(seg.name)
    with pytest.raises(ValueError):
        seg.buffer(96, 2, "<i4")
    s = sm(create=True, size=100)
    with pytest.raises(TypeError, match="too small"):
        np.ndarray(2, "<i4", buffer=s.buf, offset=96)
    s.close()


def test_read_only_attach(names, sm):
    seg = shm.create(64)
    names.append(seg.name)
    a = np.asarray(shm.attach(seg.name, readonly=True).buffer(0, 8))
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1
    # FAILURE: SharedMemory has no read-only mode: attaching needs write
    # permission and every view of it is writable.
    assert "readonly" not in inspect.signature(shared_memory.SharedMemory).parameters
    s = sm(seg.name)
    assert not s.buf.readonly
    s.close()


def test_larger_than_dev_shm(names, sm):
    st = os.statvfs("/dev/shm")
    size = st.f_blocks * st.f_frsize + (1 << 30)
    with pytest.raises(ValueError, match="not enough room"):
        shm.create(size)
    # FAILURE: created without complaint; the first write to a page that
    # cannot be backed kills the process with SIGBUS (not done here).
    s = sm(create=True, size=size)
    assert s.size == size
    s.close()


# --- sending a view to another process ------------------------------------------

def test_pickled_view(names, sm):
    seg = shm.create(1 << 20)
    names.append(seg.name)
    assert len(pickle.dumps(seg.buffer(0, 1 << 20))) < 300          # name, offset, layout
    s = sm(create=True, size=1 << 20)
    # FAILURE (cost): a NumPy array over SharedMemory pickles its bytes.
    assert len(pickle.dumps(np.ndarray(1 << 20, "B", buffer=s.buf))) > 1 << 20
    s.close()

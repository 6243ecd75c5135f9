"""pybuf without NumPy: memoryview and ctypes consumers only.

NumPy is optional (`pybuf-go[numpy]`). These tests use no NumPy themselves, so
they pass where it is installed and where it is not; the subprocess ones also
block it, so that the main run checks the NumPy-absent path too. The support
matrix (packaging/test_dist.sh) runs this file in a virtualenv without NumPy.
"""

import ctypes
import gc
import subprocess
import sys
import textwrap

import pytest

import pybuf


def ints(n):
    return (ctypes.c_int32 * n)(*range(n))


def test_memoryview_is_typed_zero_copy_and_writable():
    data = ints(8)
    buf = pybuf.wrap(ctypes.addressof(data), 8, "i")
    m = memoryview(buf)
    assert (m.format, m.itemsize, m.shape, m.readonly) == ("i", 4, (8,), False)
    assert m.tolist() == list(range(8))
    m[3] = -7
    assert data[3] == -7  # same memory, no copy
    assert m[::2].tolist() == [0, 2, 4, 6]


def test_ctypes_consumer_keeps_the_memory_alive():
    data = ints(8)
    released = []
    owner = pybuf.Owner(release=lambda: released.append(1), name="ctypes consumer")
    view = (ctypes.c_int32 * 8).from_buffer(owner.buffer(ctypes.addressof(data), 8, "i"))
    owner.close()
    assert released == [] and owner.exports == 1
    view[0] = 42
    assert data[0] == 42
    del view
    gc.collect()
    assert released == [1]


def test_closed_buffer_refuses_memoryview_and_ctypes():
    buf = pybuf.alloc(4, "d")
    buf.owner.close()
    with pytest.raises(BufferError):
        memoryview(buf)
    with pytest.raises(BufferError):
        (ctypes.c_double * 4).from_buffer(buf)


def test_struct_formats_regions_and_from_buffer_need_no_numpy():
    buf = pybuf.alloc((2, 3), "d")  # native: memoryview indexes only native formats
    assert memoryview(buf).cast("B").nbytes == 48 and buf.strides == (24, 8)
    rec = pybuf.alloc(2, "T{<i:x:<d:y:}")
    assert rec.itemsize == 12
    row = buf.region(24, 3, "d")
    memoryview(row)[1] = 2.5
    assert memoryview(buf)[1, 1] == 2.5
    src = bytearray(b"abcdef")
    mv = memoryview(pybuf.from_buffer(src))
    mv[0] = ord("z")
    assert src == bytearray(b"zbcdef")


BLOCKED = """
import sys
sys.modules["numpy"] = None  # `import numpy` now raises ImportError, as if absent
"""


def run_blocked(body):
    code = BLOCKED + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_without_numpy_pybuf_imports_and_works():
    r = run_blocked("""
        import ctypes, pybuf
        data = (ctypes.c_int32 * 4)(1, 2, 3, 4)
        released = []
        owner = pybuf.Owner(release=lambda: released.append(1))
        m = memoryview(owner.buffer(ctypes.addressof(data), 4, "i"))
        owner.close()
        assert m.tolist() == [1, 2, 3, 4] and released == []
        del m
        assert released == [1]
        assert bytes(memoryview(pybuf.alloc(8))) == bytes(8)
        try:
            pybuf.alloc(2, "float64")   # a NumPy dtype name, not a PEP 3118 format
        except ValueError as e:
            assert "NumPy is not installed" in str(e), e
        else:
            raise AssertionError("a NumPy dtype name was accepted without NumPy")
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_without_numpy_self_check_passes():
    r = run_blocked("""
        import runpy
        sys.argv = ["pybuf"]
        runpy.run_module("pybuf", run_name="__main__")
    """)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NumPy     not installed" in r.stdout and "self-check: passed" in r.stdout


def test_import_pybuf_does_not_import_numpy():
    r = subprocess.run(
        [sys.executable, "-c", "import sys, pybuf; print('numpy' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr


def test_without_numpy_a_buffer_has_no_dtype():
    # hasattr() probes of array libraries answer False instead of raising ImportError
    r = run_blocked("""
        import pybuf
        buf = pybuf.alloc(8)
        assert not hasattr(buf, "dtype")
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr

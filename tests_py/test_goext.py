"""Go extensions: examples/goext as pybuf's core, exporting Go slices and C memory.

A process holds one Go runtime, and this pytest process already runs pybuf's
own core, so every test that loads the example runs in a fresh interpreter.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from fakehelp import describe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="uses /proc/self/maps and fork")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def goext(tmp_path_factory):
    """examples/goext built with -buildmode=c-shared; its path."""
    go = shutil.which("go")
    assert go is not None, "building examples/goext needs the Go toolchain on PATH (make test installs none)"
    out = str(tmp_path_factory.mktemp("goext") / "libgoext.so")
    from pybuf._golink import LDFLAGS
    p = subprocess.run([go, "build", "-buildmode=c-shared", "-ldflags=" + LDFLAGS, "-o", out,
                        "./examples/goext"],
                       cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "CGO_ENABLED": "1"}, timeout=600)
    assert p.returncode == 0, p.stderr
    return out


# Binds the example's functions; `load` says how the library becomes the core.
PRELUDE = ("import sys; sys.path.insert(0, %r)\n" % os.path.dirname(os.path.abspath(__file__))).replace("%", "%%") + """\
import ctypes, gc, json, os, sys, time
from goruntimes import go_runtimes
import numpy as np
LIB = sys.argv[1]

def bind(lib):
    for f in ("goext_slice", "goext_cmem", "goext_particles", "goext_export_kept"):
        getattr(lib, f).restype = ctypes.c_void_p
    for f in ("goext_slice", "goext_cmem", "goext_particles", "goext_make"):
        getattr(lib, f).argtypes = [ctypes.c_int64]
    for f in ("goext_live_pins", "goext_releases", "goext_bad_releases", "goext_cmem_frees"):
        getattr(lib, f).restype = ctypes.c_int64
    return lib


LOAD = %r
if LOAD == "ctypes_first":
    lib = bind(ctypes.CDLL(LIB))
    import pybuf
    pybuf.load_core(LIB)
elif LOAD == "env":
    import pybuf
    pybuf.alloc(1)                      # the first use loads $PYBUF_CORE
    lib = bind(ctypes.CDLL(LIB))        # the same library: the same runtime
else:
    import pybuf

def pins():
    return lib.goext_live_pins()

def done(**result):
    print(json.dumps(result))
"""


def run_goext(lib, code, *, load="ctypes_first", env=None, timeout=60):
    body = PRELUDE % (load,) + textwrap.dedent(code)
    full_env = {**os.environ, **(env or {})}
    if load == "env":
        full_env["PYBUF_CORE"] = lib
    else:
        full_env.pop("PYBUF_CORE", None)
    p = subprocess.run([sys.executable, "-c", body, lib], capture_output=True, text=True,
                       timeout=timeout, env=full_env)
    return p.returncode, p.stdout, p.stderr


def result_of(lib, code, **kw):
    rc, out, err = run_goext(lib, code, **kw)
    assert rc == 0, describe(rc, out, err)
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("load", ["ctypes_first", "env"])
def test_one_go_runtime(goext, load):
    r = result_of(goext, """
        b = pybuf.adopt(lib.goext_slice(8))
        done(runtimes=go_runtimes(), version=pybuf._pybuf._core_info()["version"],
             values=np.asarray(b).tolist())
    """, load=load)
    assert r["runtimes"] == [os.path.realpath(goext)]
    assert r["version"]
    assert r["values"] == list(range(8))


@pytest.mark.parametrize("order", ["goext_then_pybuf_core", "pybuf_core_then_goext"])
def test_second_go_runtime_refused(goext, order):
    r = result_of(goext, f"""
        order = {order!r}
        if order == "goext_then_pybuf_core":
            ctypes.CDLL(LIB)                # a Go runtime, not named as the core
            try:
                pybuf.alloc(1)
            except ImportError as e:
                done(error=str(e), runtimes=len(go_runtimes()))
        else:
            pybuf.alloc(1)                  # pybuf's own core runs
            try:
                pybuf.load_core(LIB)
            except ImportError as e:
                done(error=str(e), runtimes=len(go_runtimes()))
    """, load="none")
    assert r["runtimes"] == 1
    if order == "goext_then_pybuf_core":
        assert "Go runtime is already running" in r["error"]
        assert "libgoext.so" in r["error"]
    else:
        assert "already loaded" in r["error"]


def test_adopted_slice_is_a_buffer_listed_live(goext):
    r = result_of(goext, """
        b = pybuf.adopt(lib.goext_slice(5))
        a = np.asarray(b)
        a[1] = 42.0                          # zero-copy: every view sees Go's memory
        done(type=type(b) is pybuf.Buffer, names=[o.name for o in pybuf.live()],
             nbytes=[o.nbytes for o in pybuf.live()], dtype=str(a.dtype),
             seen=memoryview(b)[1], shares=bool(np.shares_memory(a, np.asarray(b))),
             pins=pins())
    """)
    assert r["type"] is True
    assert r["names"] == ["goext.slice"]
    assert r["nbytes"] == [40]
    assert r["dtype"] == "float64"
    assert r["seen"] == 42.0 and r["shares"] is True
    assert r["pins"] == 1


def test_unpinned_once_after_the_last_view(goext):
    r = result_of(goext, """
        rel0 = lib.goext_releases()
        b = pybuf.adopt(lib.goext_slice(1000))
        s = np.asarray(b)[10:20]             # a NumPy slice
        m = memoryview(b)
        t = np.from_dlpack(b)                # a DLPack tensor
        steps = {}
        del b; gc.collect(); steps["buffer"] = pins()
        del s; gc.collect(); steps["numpy_slice"] = pins()
        del m; gc.collect(); steps["memoryview"] = pins()
        collected_before = lib.goext_last_collected()
        del t; steps["dlpack"] = pins()
        gc.collect()
        done(steps=steps, releases=lib.goext_releases() - rel0,
             bad=lib.goext_bad_releases(), live=len(pybuf.live()),
             collected_before=collected_before, collected=lib.goext_last_collected())
    """)
    assert r["steps"] == {"buffer": 1, "numpy_slice": 1, "memoryview": 1, "dlpack": 0}
    assert r["releases"] == 1 and r["bad"] == 0
    assert r["live"] == 0
    assert r["collected_before"] == 0, "the Go slice was collected while a view lived"
    assert r["collected"] == 1, "the Go slice stayed reachable after its release"


def test_c_memory_with_go_release(goext):
    r = result_of(goext, """
        b = pybuf.adopt(lib.goext_cmem(6))
        a = np.asarray(b)
        values, dtype = a.tolist(), str(a.dtype)
        b.owner.close()
        del b; gc.collect()
        before = lib.goext_cmem_frees()
        del a
        done(values=values, dtype=dtype, before=before, after=lib.goext_cmem_frees(),
             pins=pins())
    """)
    assert r["values"] == list(range(6)) and r["dtype"] == "int32"
    assert (r["before"], r["after"]) == (0, 1)
    assert r["pins"] == 0


def test_records_follow_go_struct_layout(goext):
    r = result_of(goext, """
        a = np.asarray(pybuf.adopt(lib.goext_particles(4)))
        done(names=list(a.dtype.names), itemsize=a.dtype.itemsize,
             offsets=[a.dtype.fields[n][1] for n in a.dtype.names],
             ids=a["ID"].tolist(), pos0=a["Pos"][:, 0].tolist(), alive=a["Alive"].tolist(),
             mass=a["Mass"].tolist())
    """)
    assert r["names"] == ["ID", "Pos", "Alive", "Mass"]
    assert r["itemsize"] == 40 and r["offsets"] == [0, 8, 32, 36]
    assert r["ids"] == [0, 1, 2, 3] and r["pos0"] == [0.0, 1.0, 2.0, 3.0]
    assert r["alive"] == [True, False, True, False] and r["mass"] == [0.0, 0.5, 1.0, 1.5]


def test_strict_close_raises_while_a_view_lives(goext):
    r = result_of(goext, """
        b = pybuf.adopt(lib.goext_slice(16))
        a = np.asarray(b)[::2]
        owner = b.owner
        del b
        try:
            owner.close(strict=True)
            error = None
        except BufferError as e:
            error = str(e)
        held = pins()
        del a
        owner.close(strict=True)              # nothing holds it now: released at once
        done(error=error, held=held, after=pins(), released=owner.released)
    """)
    assert r["error"] and "1 buffer" in r["error"].replace("buffers", "buffer")
    assert r["held"] == 1
    assert r["after"] == 0 and r["released"] is True


def test_null_descriptor_raises(goext):
    r = result_of(goext, """
        errors = []
        for f in (lib.goext_slice, lib.goext_cmem, lib.goext_particles):
            try:
                pybuf.adopt(f(-1))             # the Go side refused: NULL, None to ctypes
            except (TypeError, ValueError) as e:
                errors.append(type(e).__name__)
        done(errors=errors, live=len(pybuf.live()), pins=pins())
    """)
    assert len(r["errors"]) == 3
    assert r["live"] == 0 and r["pins"] == 0


def test_many_exports_leave_no_pin(goext):
    r = result_of(goext, """
        rel0 = lib.goext_releases()
        for i in range(2000):
            np.asarray(pybuf.adopt(lib.goext_slice(64))).sum()
        done(pins=pins(), releases=lib.goext_releases() - rel0, live=len(pybuf.live()))
    """)
    assert r == {"pins": 0, "releases": 2000, "live": 0}


def test_fork_after_load_raises_fork_error(goext):
    r = result_of(goext, """
        import select, signal
        b = pybuf.adopt(lib.goext_slice(4))
        a = np.asarray(b)
        rel0 = lib.goext_releases()
        rfd, wfd = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)                   # a hang must not outlive the test
            res = {"view": a.tolist()}
            for name, op in [("live", pybuf.live), ("alloc", lambda: pybuf.alloc(4)),
                             ("owner", lambda: pybuf.Owner(name="x").buffer(0, 0))]:
                try:
                    op()
                    res[name] = "no error"
                except pybuf.ForkError as e:
                    res[name] = ["ForkError", isinstance(e, RuntimeError), str(e)]
            del b, a; gc.collect()             # the parent's owner: never released here
            os.write(wfd, json.dumps(res).encode())
            os._exit(0)
        os.close(wfd)
        ready, _, _ = select.select([rfd], [], [], 5.0)
        child = json.loads(os.read(rfd, 65536) or b"{}") if ready else None
        elapsed = time.monotonic() - start
        for _ in range(50):
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            status = None
        in_parent = pins()
        del b, a; gc.collect()
        done(child=child, elapsed=elapsed, status=status, pins_then=in_parent,
             pins_after=pins(), releases=lib.goext_releases() - rel0)
    """)
    assert r["child"] is not None, "the forked child did not answer within 5 s"
    assert r["elapsed"] < 5.0
    assert r["status"] == 0
    c = r["child"]
    assert c["view"] == [0.0, 1.0, 2.0, 3.0]
    for op in ("live", "alloc", "owner"):
        assert c[op][0] == "ForkError" and c[op][1] is True, c[op]
        assert "spawn" in c[op][2] or "forkserver" in c[op][2]
    assert r["pins_then"] == 1, "the child's exit touched the parent's pin"
    assert (r["pins_after"], r["releases"]) == (0, 1)


def test_pinner_dropped_while_pinned_ends_the_process(goext):
    rc, out, err = run_goext(goext, """
        print("leaking", flush=True)
        print(lib.goext_leak_pinner(), flush=True)
    """)
    # Go's leak check panics in a finalizer; in a c-shared library the runtime
    # answers a fatal panic with abort() (the host owns the process), so the
    # status is SIGABRT where a Go executable would exit with 2.
    assert rc == -signal.SIGABRT, describe(rc, out, err)
    assert "leaking" in out and "-1" not in out
    assert "runtime.Pinner: found leaking pinned pointer" in err


def test_adopting_twice_or_a_wrong_address_raises_instead_of_crashing(goext):
    r = result_of(goext, """
        errors = []
        p = lib.goext_slice(8)
        b = pybuf.adopt(p)
        for bad in (p, p + 8, 12345):               # adopted already; never a descriptor
            try:
                pybuf.adopt(bad)
            except ValueError as e:
                errors.append(str(e))
        raw = ctypes.CDLL(LIB).goext_slice          # restype forgotten: ctypes truncates to an int
        raw.argtypes = [ctypes.c_int64]
        truncated = raw(8)
        try:
            pybuf.adopt(truncated if truncated != p else truncated + 1)
        except ValueError as e:                     # negative once truncated: refused earlier still
            errors.append("truncated: " + str(e))
        try:
            pybuf.adopt(None)
        except TypeError as e:
            errors.append("TypeError: " + str(e))
        done(errors=errors, values=np.asarray(b).tolist())
    """)
    assert len(r["errors"]) == 5
    for e in r["errors"][:3]:
        assert "is not a descriptor waiting for adoption" in e, e
        assert "set restype = ctypes.c_void_p" in e
    assert ("is not a descriptor waiting for adoption" in r["errors"][3]
            or r["errors"][3] == "truncated: descriptor must be >= 0"), r["errors"][3]
    assert r["errors"][4].startswith("TypeError: descriptor is None")
    assert r["values"] == [float(i) for i in range(8)]

"""Rule 7: no thread or Go runtime at import; fork after first use; forkserver workers."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from fakehelp import TESTS_DIR, describe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="uses /proc and fork")

THREADS_AND_SIGNALS = """
import ctypes, os, json
libc = ctypes.CDLL(None, use_errno=True)

def nthreads():
    return len(os.listdir("/proc/self/task"))

def segv_handler():
    sa = ctypes.create_string_buffer(512)   # struct sigaction, handler first
    assert libc.sigaction(11, None, sa) == 0
    return ctypes.c_void_p.from_buffer(sa).value or 0
"""


@pytest.mark.parametrize("numpy_first", [True, False], ids=["numpy_first", "pybuf_alone"])
def test_import_starts_no_thread_and_no_go_runtime(run_isolated, numpy_first):
    code = THREADS_AND_SIGNALS + textwrap.dedent(f"""
        if {numpy_first!r}:
            import numpy
        t0, s0 = nthreads(), segv_handler()
        import pybuf
        import pybuf._pybuf
        t1, s1 = nthreads(), segv_handler()
        b = pybuf.alloc(16)          # first use: the Go core is loaded now
        t2, s2 = nthreads(), segv_handler()
        print(json.dumps(dict(t0=t0, t1=t1, t2=t2, s0=s0, s1=s1, s2=s2)))
    """)
    rc, out, err = run_isolated(code, prelude=False,
                                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                     "PYTHONFAULTHANDLER": ""})
    assert rc == 0, describe(rc, out, err)
    r = json.loads(out.strip().splitlines()[-1])
    assert r["t1"] == r["t0"], f"import pybuf started threads: {r}"
    assert r["s1"] == r["s0"], f"import pybuf installed a SIGSEGV handler (Go runtime?): {r}"
    # sanity check of the probes: the first real use does start the Go runtime
    assert r["t2"] > r["t1"] or r["s2"] != r["s1"], r


FORK_AFTER_USE = """
import multiprocessing as mp, json
h = fake.create_ints(16)
owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h, name="forked-owner")
buf = owner.buffer(h.ptr, 16, "i")
a = np.asarray(buf)
m = memoryview(buf)
a[0] = 100

def child(conn):
    global a, m, buf, owner
    res = {}
    try:
        res["read"] = int(a[0])
        a[1] = 111
        res["write"] = int(a[1])
        res["mv"] = m[1]
        res["c_mem"] = h.read(1)
        res["attrs"] = [list(buf.shape), buf.nbytes, buf.exports, owner.buffers, owner.exports]
        res["repr"] = isinstance(repr(buf), str) and isinstance(repr(owner), str)
        m2 = memoryview(buf)
        res["new_memoryview"] = m2[0]
        m2.release()
        a2 = np.asarray(buf)
        res["new_asarray"] = int(a2[0])
        del a2
        checks = [
            ("wrap", lambda: pybuf.wrap(h.ptr, 4, "i")),
            ("alloc", lambda: pybuf.alloc(4)),
            ("Owner", lambda: pybuf.Owner()),
            ("owner_buffer", lambda: owner.buffer(h.ptr, 4, "i")),
            ("region", lambda: buf.region(0, 4, "i")),
            ("live", lambda: pybuf.live()),
            ("trace", lambda: pybuf.trace(True)),
            ("strict_close", lambda: owner.close(strict=True)),
        ]
        for name, fn in checks:
            try:
                fn()
                res[name] = ["no error"]
            except pybuf.ForkError as e:
                res[name] = ["ForkError", isinstance(e, RuntimeError), str(e)]
            except BaseException as e:
                res[name] = ["other", type(e).__name__, str(e)]
        owner.close()
        res["closed"] = owner.closed
        del a, m, buf, owner
        gc.collect()
        res["child_destroys"] = h.destroys
    except BaseException as e:
        import traceback
        res["error"] = traceback.format_exc()
    conn.send(json.dumps(res))
    conn.close()

ctx = mp.get_context("fork")
r, w = ctx.Pipe(duplex=False)
p = ctx.Process(target=child, args=(w,))
p.start()
w.close()
got = r.recv() if r.poll(90) else "{}"
p.join(timeout=60)
alive = p.is_alive()
if alive:
    p.kill()
res = json.loads(got)
res["exitcode"] = p.exitcode
res["child_alive_after_join"] = alive
res["parent_a1"] = int(a[1])
res["parent_destroys_before"] = h.destroys
del a, m, buf
owner.close()
res["parent_destroys_after"] = h.destroys
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def fork_result(fakelib_path):
    from fakehelp import run_isolated
    rc, out, err = run_isolated(FORK_AFTER_USE, timeout=180)
    assert rc == 0, describe(rc, out, err)
    res = json.loads(out.strip().splitlines()[-1])
    assert "error" not in res, res["error"]
    return res


def test_fork_child_exits(fork_result):
    assert fork_result["child_alive_after_join"] is False
    assert fork_result["exitcode"] == 0


def test_fork_inherited_views_work(fork_result):
    r = fork_result
    assert r["read"] == 100
    assert r["write"] == 111
    assert r["mv"] == 111
    assert r["c_mem"] == 111
    assert r["attrs"] == [[16], 64, 2, 1, 2]
    assert r["repr"] is True


def test_fork_inherited_buffer_new_exports(fork_result):
    assert fork_result["new_memoryview"] == 100
    assert fork_result["new_asarray"] == 100


@pytest.mark.parametrize("op", ["wrap", "alloc", "Owner", "owner_buffer", "region", "live",
                                "trace", "strict_close"])
def test_fork_go_operations_raise_fork_error(fork_result, op):
    r = fork_result[op]
    assert r[0] == "ForkError", r
    assert r[1] is True          # a RuntimeError
    assert "spawn" in r[2] or "forkserver" in r[2], r[2]


def test_fork_child_close_is_c_only_and_never_releases(fork_result):
    assert fork_result["closed"] is True
    assert fork_result["child_destroys"] == 0


def test_fork_parent_unaffected_and_releases_once(fork_result):
    assert fork_result["parent_a1"] == 1       # the child's write went to its own copy
    assert fork_result["parent_destroys_before"] == 0
    assert fork_result["parent_destroys_after"] == 1


def test_fork_before_first_use_works_fully(run_isolated):
    rc, out, err = run_isolated("""
        import multiprocessing as mp

        def child():
            h = fake.create_ints(8)
            b = pybuf.wrap(h.ptr, 8, "i", release=fake.lib.fake_destroy, arg=h.h)
            assert np.asarray(b).sum() == 28
            a = pybuf.alloc(8, "i")
            assert not np.asarray(a).any()
            del b
            gc.collect()
            assert h.destroys == 1
            assert isinstance(pybuf.live(), list)

        ctx = mp.get_context("fork")
        p = ctx.Process(target=child)
        p.start()
        p.join(timeout=60)
        print("exitcode", p.exitcode)
        # the parent can use pybuf afterwards too
        assert np.asarray(pybuf.alloc(4, "i")).sum() == 0
    """, timeout=120)
    assert rc == 0, describe(rc, out, err)
    assert "exitcode 0" in out


FORKSERVER_SCRIPT = """
import gc, os, sys
import numpy as np
import pybuf
sys.path.insert(0, {tests_dir!r})
from fakehelp import load_fake


def work(n):
    fake = load_fake()
    h = fake.create_ints(n)
    buf = pybuf.wrap(h.ptr, n, "i", release=fake.lib.fake_destroy, arg=h.h)
    a = np.asarray(buf)
    s = int(a.sum())
    a += 1
    b = pybuf.alloc(n, "i")
    np.asarray(b)[:] = a
    s2 = int(np.asarray(b).sum())
    del a, buf, b
    gc.collect()
    return s, s2, h.destroys, os.getpid()


if __name__ == "__main__":
    import multiprocessing as mp
    first = pybuf.alloc(8)          # first use in the parent: its Go runtime runs
    ctx = mp.get_context("forkserver")
    with ctx.Pool(2) as pool:
        res = pool.map(work, [10, 100, 1000], chunksize=1)
    print("RESULT", [r[:3] for r in res])
    print("PIDS", sorted(set(r[3] for r in res) - {{os.getpid()}}) != [])
"""


def test_forkserver_pool(tmp_path, fakelib_path):
    script = tmp_path / "fs_script.py"
    script.write_text(FORKSERVER_SCRIPT.format(tests_dir=TESTS_DIR))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=240, cwd=str(tmp_path))
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    assert "RESULT [(45, 55, 1), (4950, 5050, 1), (499500, 500500, 1)]" in p.stdout, p.stdout
    assert "PIDS True" in p.stdout


def test_spawn_pool(tmp_path, fakelib_path):
    script = tmp_path / "sp_script.py"
    script.write_text(FORKSERVER_SCRIPT.format(tests_dir=TESTS_DIR).replace(
        '"forkserver"', '"spawn"'))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=240, cwd=str(tmp_path))
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    assert "RESULT [(45, 55, 1), (4950, 5050, 1), (499500, 500500, 1)]" in p.stdout, p.stdout


START_METHODS_SCRIPT = """
import gc, json, os, sys
import numpy as np
import pybuf
sys.path.insert(0, {tests_dir!r})
from fakehelp import load_fake

INHERITED = []


def child(buf, q):
    # buf: inherited as is (fork) or pickled by value (spawn, forkserver)
    res = dict(pid=os.getpid())
    try:
        views = [np.asarray(buf), memoryview(buf), np.asarray(buf)[::2]]
        res["read"] = int(views[0][3])
        del views, buf
        INHERITED.clear()
        gc.collect()
        try:
            b = pybuf.wrap(load_fake().create_ints(4).ptr, 4, "i")
            res["create"] = int(np.asarray(b).sum())
        except pybuf.ForkError as e:
            res["create"] = "ForkError"
    except BaseException as e:
        res["error"] = repr(e)
    q.put(json.dumps(res))


if __name__ == "__main__":
    import multiprocessing as mp
    method = sys.argv[1]
    fake = load_fake()
    h = fake.create_ints(16)
    owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h)
    buf = owner.buffer(h.ptr, 16, "i")
    np.asarray(buf)[3] = 33
    INHERITED.append(np.asarray(buf))     # a fork child inherits this view too
    ctx = mp.get_context(method)
    q = ctx.Queue()
    procs = [ctx.Process(target=child, args=(buf, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [json.loads(q.get(timeout=120)) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    destroys_while_held = h.destroys
    INHERITED.clear()
    del buf
    owner.close()
    print("RESULT", json.dumps(dict(results=results, hung=hung,
                                    codes=[p.exitcode for p in procs],
                                    held=destroys_while_held, after=h.destroys)))
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_start_methods_child_drops_views_parent_releases_once(tmp_path, fakelib_path, method):
    script = tmp_path / "start_methods.py"
    script.write_text(START_METHODS_SCRIPT.format(tests_dir=TESTS_DIR))
    p = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path))
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    r = json.loads(p.stdout.split("RESULT", 1)[1])
    assert r["hung"] == [] and r["codes"] == [0, 0], r
    for res in r["results"]:
        assert "error" not in res, res
        assert res["read"] == 33
        # after a fork the Go core cannot run in the child; spawn/forkserver children work
        assert res["create"] == ("ForkError" if method == "fork" else 6), res
    assert r["held"] == 0          # children dropping their views released nothing here
    assert r["after"] == 1         # the parent's release ran exactly once

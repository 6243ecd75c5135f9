"""examples/gostats: a Go package imported as a Python module (pybuf/pymod).

`make test` installs it (pip install --no-build-isolation ./examples/gostats)
before running these tests. Its library embeds pybuf's core and announces
itself, so this very process runs it as pybuf's core; everything about import
order and second Go libraries runs in fresh interpreters.
"""
import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import gostats
import pybuf
from fakehelp import describe
from pybuf.gobuild import INIT_TEMPLATE, LIBRARY_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOSTATS_LIB = os.path.join(os.path.dirname(os.path.abspath(gostats.__file__)), LIBRARY_FILE)


def go_buffer(a):
    """The pybuf.Buffer under a Go result (NumPy puts a memoryview of it as the base)."""
    assert isinstance(a.base, memoryview)
    return a.base.obj


def gostats_owners():
    """This module's owners in pybuf.live() (other tests' may still be alive)."""
    return [o.name for o in pybuf.live() if (o.name or "").startswith("gostats.")]


@pytest.fixture(autouse=True)
def no_pins_left():
    """Every test starts and ends with no Go export pinned (a garbage cycle's owner is
    released by the second collection that finds it)."""
    gc.collect()
    gc.collect()
    assert gostats.live_pins() == 0
    yield
    gc.collect()
    gc.collect()
    assert gostats.live_pins() == 0


# --- every function ------------------------------------------------------------

def test_add():
    assert gostats.add(2, 3) == 5
    assert gostats.add(a=-7, b=2) == -5
    assert gostats.add(2**62, 2**62 - 1) == 2**63 - 1
    assert gostats.add(np.int32(4), True) == 5  # __index__ objects and bools are ints


def test_add_argument_errors_name_the_parameter():
    with pytest.raises(TypeError) as e:
        gostats.add(1.5, 2)
    assert str(e.value) == "gostats.add() argument 'a' must be an int, not float"
    with pytest.raises(TypeError) as e:
        gostats.add(1, "2")
    assert str(e.value) == "gostats.add() argument 'b' must be an int, not str"
    with pytest.raises(OverflowError) as e:
        gostats.add(2**63, 0)
    assert str(e.value) == "gostats.add() argument 'a' is out of range for a Go int64"
    with pytest.raises(TypeError) as e:
        gostats.add(1)
    assert str(e.value) == "gostats.add() missing required argument 'b' (pos 2)"
    with pytest.raises(TypeError) as e:
        gostats.add(1, 2, 3)
    assert str(e.value) == "gostats.add() takes 2 positional arguments but 3 were given"
    with pytest.raises(TypeError) as e:
        gostats.add(1, c=2)
    assert str(e.value) == "gostats.add() got an unexpected keyword argument 'c'"
    with pytest.raises(TypeError) as e:
        gostats.add(1, a=2)
    assert str(e.value) == "gostats.add() got multiple values for argument 'a'"


def test_mean_reads_any_float64_buffer():
    x = np.linspace(-3.0, 7.0, 1001)
    assert gostats.mean(x) == pytest.approx(np.mean(x), rel=1e-15)
    assert gostats.mean(np.array([1.0, 2.0, 6.0])) == 3.0
    assert gostats.mean(memoryview(np.array([2.0, 4.0]))) == 3.0
    assert gostats.mean(np.arange(10.0)[2:5]) == 3.0  # a contiguous slice is borrowed as is
    assert np.isnan(gostats.mean(np.array([], dtype=np.float64)))


def test_mean_refuses_wrong_arrays_naming_x():
    with pytest.raises(TypeError) as e:
        gostats.mean(np.arange(4))
    assert str(e.value) == ("gostats.mean() argument 'x' must hold float64 elements (format \"d\"), "
                            "not format \"l\"")
    with pytest.raises(TypeError) as e:
        gostats.mean(np.arange(4, dtype=">f8"))
    assert "argument 'x' must hold float64 elements" in str(e.value)
    with pytest.raises(ValueError) as e:
        gostats.mean(np.zeros((2, 3)))
    assert str(e.value) == "gostats.mean() argument 'x' must be 1-dimensional, not 2-dimensional"
    with pytest.raises(ValueError) as e:
        gostats.mean(np.arange(10.0)[::2])
    assert str(e.value).startswith("gostats.mean() argument 'x' must be contiguous (its stride is 16 bytes")
    with pytest.raises(TypeError) as e:
        gostats.mean([1.0, 2.0])
    assert str(e.value).startswith("gostats.mean() argument 'x' must be an array")
    assert str(e.value).endswith("not list")


def test_histogram_matches_numpy():
    rng = np.random.default_rng(12)
    x = rng.normal(size=10_000)
    x[:3] = [-2.0, 2.0, 9.0]  # the edges count, outside does not
    counts = gostats.histogram(x, 17, -2.0, 2.0)
    assert counts.dtype == np.int64
    assert counts.tolist() == np.histogram(x, 17, range=(-2.0, 2.0))[0].tolist()
    assert gostats.histogram(x, bins=1, lo=-100.0, hi=100.0).tolist() == [10_000]
    # Every edge and its neighbours: bin for bin as NumPy, where rounding decides.
    for bins, lo, hi in ((7, -1.0, 2.2), (10, 0.1, 0.7), (3, 1e-3, 1e-3 + 3e-9)):
        edges = np.linspace(lo, hi, bins + 1)
        near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                               np.linspace(lo, hi, 1001), [np.nan, np.inf, -np.inf]])
        assert gostats.histogram(near, bins, lo, hi).tolist() == np.histogram(near, bins, range=(lo, hi))[0].tolist()


def test_histogram_errors():
    with pytest.raises(ValueError) as e:
        gostats.histogram(np.zeros(3), 0, 0.0, 1.0)
    assert str(e.value) == "gostats.histogram: bins must be positive, not 0"
    with pytest.raises(ValueError) as e:
        gostats.histogram(np.zeros(3), 4, 1.0, 1.0)
    assert str(e.value) == "gostats.histogram: the range [1, 1] is empty or not finite"


def test_grid_is_go_memory():
    g = gostats.grid(3, 4)
    assert g.dtype == np.float64 and g.shape == (3, 4)
    assert g.tolist() == np.arange(12.0).reshape(3, 4).tolist()
    assert all(g[i, j] == i * 4 + j for i in range(3) for j in range(4))
    assert not g.flags.owndata and isinstance(go_buffer(g), pybuf.Buffer)
    assert g.flags.c_contiguous and g.flags.writeable
    assert gostats_owners() == ["gostats.grid"]
    assert gostats.live_pins() == 1
    g[2, 3] = -1.0  # Python writes into Go's slice: every view sees it
    assert np.asarray(go_buffer(g))[2, 3] == -1.0
    del g
    assert gostats.live_pins() == 0
    assert gostats.grid(0, 5).shape == (0, 5)
    with pytest.raises(ValueError) as e:
        gostats.grid(-1, 5)
    assert str(e.value) == "gostats.grid: rows and cols must not be negative, not (-1, 5)"
    with pytest.raises(ValueError) as e:
        gostats.particles(-2)
    assert str(e.value) == "gostats.particles: n must not be negative, not -2"


def test_submatrix_is_a_strided_view_of_one_grid():
    s = gostats.submatrix(5, 6, 1, 4, 2, 5)
    assert s.tolist() == np.arange(30.0).reshape(5, 6)[1:4, 2:5].tolist()
    assert s.strides == (6 * 8, 8), "the rows are those of the whole 5 x 6 grid"
    assert not s.flags.c_contiguous
    assert isinstance(go_buffer(s), pybuf.Buffer)
    assert gostats.live_pins() == 1
    with pytest.raises(IndexError) as e:
        gostats.submatrix(5, 6, 1, 6, 0, 1)
    assert str(e.value) == "gostats.submatrix: [1:6, 0:1] is not inside a 5 x 6 grid"


def test_scale_multiplies_in_place():
    x = np.arange(5.0)
    address = x.ctypes.data
    assert gostats.scale(x, 2.5) is None
    assert x.tolist() == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert x.ctypes.data == address
    big = np.ones(1_000_000)
    view = big[10:20]
    gostats.scale(big, k=3.0)
    assert view.tolist() == [3.0] * 10 and big.sum() == 3_000_000.0


def test_scale_refuses_read_only_and_strided():
    ro = np.arange(3.0)
    ro.setflags(write=False)
    with pytest.raises(BufferError) as e:
        gostats.scale(ro, 2.0)
    assert str(e.value) == "gostats.scale() argument 'x' is read-only, and gostats.scale writes into it"
    assert ro.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(BufferError) as e:
        gostats.scale(bytes(16), 2.0)
    assert "argument 'x' is read-only" in str(e.value)
    with pytest.raises(ValueError) as e:
        gostats.scale(np.arange(6.0)[::3], 2.0)
    assert "argument 'x' must be contiguous" in str(e.value)
    with pytest.raises(TypeError) as e:
        gostats.scale(np.arange(3.0), "2")
    assert str(e.value) == "gostats.scale() argument 'k' must be a float, not str"


def test_particles_are_go_structs_as_records():
    p = gostats.particles(5)
    assert p.dtype.names == ("id", "x", "y")
    assert [p.dtype.fields[n][0] for n in p.dtype.names] == [np.dtype(np.int32), np.dtype(np.float64),
                                                             np.dtype(np.float64)]
    assert p["id"].tolist() == [0, 1, 2, 3, 4]
    assert p["x"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert p["y"].tolist() == [0.0, -1.0, -2.0, -3.0, -4.0]
    assert gostats.live_pins() == 1


def test_fail_raises_value_error_with_the_message():
    with pytest.raises(ValueError) as e:
        gostats.fail("no good: ü")
    assert type(e.value) is ValueError
    assert e.value.args == ("gostats.fail: no good: ü",)
    with pytest.raises(TypeError) as e:
        gostats.fail(b"bytes")
    assert str(e.value) == "gostats.fail() argument 'msg' must be a str, not bytes"


def test_crash_is_a_runtime_error_and_the_process_goes_on():
    for _ in range(3):
        with pytest.raises(RuntimeError) as e:
            gostats.crash()
        assert type(e.value) is RuntimeError
        assert str(e.value) == "gostats.crash: Go panic: gostats.crash was called (42)"
    assert gostats.add(1, 1) == 2


def test_full_is_memory_pybuf_owns_not_go_heap():
    base = gostats.fresh_blocks()
    a = gostats.full(1_000_000, 2.5)
    assert a.dtype == np.float64 and a.shape == (1_000_000,)
    assert (a == 2.5).all()
    assert a.flags.writeable and not a.flags.owndata
    assert gostats.live_pins() == 0, "not Go's heap: nothing pinned"
    assert gostats.fresh_blocks() == base + 1
    assert gostats_owners() == ["gostats.full"]
    view = a[10:20]
    del a
    gc.collect()
    assert gostats.fresh_blocks() == base + 1, "a view still holds it"
    assert view.tolist() == [2.5] * 10
    del view
    gc.collect()
    assert gostats.fresh_blocks() == base


def test_full_small_and_empty():
    assert gostats.full(3, -1.0).tolist() == [-1.0, -1.0, -1.0]
    assert gostats.full(0, 1.0).shape == (0,)
    with pytest.raises(ValueError) as e:
        gostats.full(-1, 1.0)
    assert str(e.value) == "gostats.full: n must not be negative, not -1"
    gc.collect()
    assert gostats.fresh_blocks() == 0


def test_full_go_heap_is_pinned_until_the_view_dies():
    a = gostats.full_go_heap(1000, 1.5)
    assert (a == 1.5).all()
    assert gostats.live_pins() == 1
    del a
    gc.collect()
    assert gostats.live_pins() == 0


def test_signatures_and_docs_come_from_the_go_source():
    import inspect
    assert str(inspect.signature(gostats.histogram)) == "(x, bins, lo, hi)"
    assert str(inspect.signature(gostats.sleep_ms)) == "(ms)"
    assert gostats.add.__doc__ == "Add returns a + b."
    assert gostats.add.__module__ == "gostats"
    assert gostats.__doc__.startswith("Package gostats is a Python module written in Go: small statistics,")
    assert sorted(gostats.__all__) == sorted(["add", "mean", "histogram", "grid", "submatrix", "scale",
                                              "particles", "fail", "crash", "sleep_ms", "live_pins",
                                              "invert2", "full", "full_go_heap", "fresh_blocks"])


def test_functions_look_like_builtin_functions():
    import pickle
    assert repr(gostats.add) == "<built-in function gostats.add>"
    assert gostats.add.__name__ == gostats.add.__qualname__ == "add"
    assert pickle.loads(pickle.dumps(gostats.add)) is gostats.add

    class Holder:
        add = gostats.add
    assert Holder().add(2, 3) == 5  # not bound as a method, as a built-in function is not
    with pytest.raises(TypeError):
        type(gostats.add)()


def test_an_error_names_an_importable_class():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(np.linalg.LinAlgError) as e:
        gostats.invert2(singular)
    assert type(e.value) is np.linalg.LinAlgError
    assert str(e.value) == "gostats.invert2: Singular matrix"
    m = np.array([[4.0, 7.0], [2.0, 6.0]])
    np.testing.assert_allclose(gostats.invert2(m.T), np.linalg.inv(m.T))


def test_an_error_class_that_is_no_exception_class_raises_its_fallback(monkeypatch):
    monkeypatch.setattr(np.linalg, "LinAlgError", "not a class")
    with pytest.raises(ValueError) as e:
        gostats.invert2(np.zeros((2, 2)))
    assert type(e.value) is ValueError
    assert str(e.value) == "gostats.invert2: Singular matrix"


def test_exception_class_lookup_imports_the_longest_module_prefix():
    from pybuf.gomodule import _exception_class
    assert _exception_class("numpy.linalg.LinAlgError") is np.linalg.LinAlgError
    assert _exception_class("concurrent.futures.TimeoutError") is __import__("concurrent.futures").futures.TimeoutError
    assert _exception_class("json.JSONDecodeError") is json.JSONDecodeError
    assert _exception_class("nosuchmodule_pybuf.Error") is None
    assert _exception_class("json.dumps") is None  # not an exception class


# --- lifetime and copies -----------------------------------------------------------

def test_pins_drop_to_zero_after_the_last_view():
    a = gostats.grid(100, 100)
    row = a[7]
    m = memoryview(a)
    t = np.from_dlpack(go_buffer(a))
    steps = []
    del a
    steps.append(gostats.live_pins())
    del row
    steps.append(gostats.live_pins())
    del m
    steps.append(gostats.live_pins())
    del t
    steps.append(gostats.live_pins())
    assert steps == [1, 1, 1, 0]
    assert gostats_owners() == []


def test_results_and_arguments_are_not_copied():
    a = gostats.grid(1000, 1000)
    b = np.asarray(go_buffer(a))
    assert np.shares_memory(a, b)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    gostats.scale(a.reshape(-1), 0.5)  # a Go result borrowed back by Go: the same memory
    assert b[999, 999] == 999_999 * 0.5
    del a, b


def test_many_calls_leave_nothing_behind():
    for i in range(2000):
        gostats.histogram(np.arange(8.0), 4, 0.0, 8.0).sum()
        gostats.submatrix(4, 4, 0, 2, 0, 2)
    assert gostats_owners() == []


def test_threads_calling_go_at_once_leave_nothing_behind():
    errors = []

    def worker(seed):
        x = np.full(1000, float(seed))
        try:
            for i in range(300):
                g = gostats.grid(4, 5)
                counts = gostats.histogram(x, 2, 0.0, 16.0)
                gostats.scale(x, 1.0)
                assert gostats.mean(x) == float(seed)
                assert counts.tolist() == ([1000, 0] if seed < 8 else [0, 1000])
                assert g[3, 4] == 19.0 and gostats.add(seed, i) == seed + i
                if i % 50 == 0:
                    with pytest.raises(RuntimeError):
                        gostats.crash()
        except Exception as e:  # reported below: an assert in a thread does not fail the test
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(1, 15, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    gc.collect()
    gc.collect()
    assert gostats.live_pins() == 0 and gostats_owners() == []


# --- the GIL -----------------------------------------------------------------------

def test_sleep_ms_releases_the_gil():
    events = []
    started = threading.Event()

    def sleeper():
        started.set()
        gostats.sleep_ms(1000)
        events.append("sleeper done")

    t = threading.Thread(target=sleeper)
    t.start()
    started.wait()
    time.sleep(0.1)  # the sleeper is inside Go by now
    events.append("main ran")  # needs the GIL: only possible if sleep_ms let it go
    t.join()
    assert events == ["main ran", "sleeper done"]


def test_two_threads_sleep_at_once():
    spans = {}
    barrier = threading.Barrier(2)

    def sleeper(name):
        barrier.wait()
        start = time.monotonic()
        gostats.sleep_ms(1000)  # long enough that a busy machine still starts both inside it
        spans[name] = (start, time.monotonic())

    threads = [threading.Thread(target=sleeper, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    assert max(a0, b0) < min(a1, b1), "the two Go sleeps did not overlap: the GIL was held"


# --- loading -----------------------------------------------------------------------

PRELUDE = "import sys; sys.path.insert(0, %r)\n" % os.path.dirname(os.path.abspath(__file__)) + """\
import ctypes, gc, json, os, sys
from goruntimes import go_runtimes
def done(**result):
    print(json.dumps(result))
"""


def run_python(code, *, env=None, cwd=None, path=()):
    full_env = {k: v for k, v in os.environ.items() if k != "PYBUF_CORE"}
    full_env.update(env or {})
    if path:
        full_env["PYTHONPATH"] = os.pathsep.join([*path, full_env.get("PYTHONPATH", "")])
    p = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=120, env=full_env, cwd=cwd)
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["gostats_first", "pybuf_first_and_used"])
def test_either_import_order_shares_one_go_runtime(order):
    r = run_python(f"""
        if {order!r} == "gostats_first":
            import gostats
            import pybuf
        else:
            import pybuf
            buf = pybuf.alloc(8)            # pybuf's first use loads its core now
            import gostats
        a = gostats.grid(2, 2)
        done(add=gostats.add(2, 3), grid=a.tolist(), runtimes=go_runtimes(),
             owners=[o.name for o in pybuf.live()])
    """)
    assert r["add"] == 5 and r["grid"] == [[0.0, 1.0], [2.0, 3.0]]
    assert r["runtimes"] == [os.path.realpath(GOSTATS_LIB)]
    assert "gostats.grid" in r["owners"]


def test_load_core_compares_files_not_names(tmp_path):
    link = tmp_path / "libalias.so"
    link.symlink_to(GOSTATS_LIB)
    r = run_python(f"""
        lib = ctypes.CDLL("./{LIBRARY_FILE}")          # the same file, under another name
        import pybuf
        pybuf.load_core("{LIBRARY_FILE}")
        pybuf.load_core(os.path.abspath("{LIBRARY_FILE}"))
        pybuf.load_core({str(link)!r})                  # a symlink to it
        import gostats
        done(add=gostats.add(1, 2), runtimes=len(go_runtimes()))
    """, cwd=os.path.dirname(GOSTATS_LIB))
    assert r == {"add": 3, "runtimes": 1}


def test_pybuf_core_chosen_first_refuses_gostats():
    own_core = os.path.join(os.path.dirname(os.path.abspath(pybuf.__file__)), "_pybuf_core.so")
    r = run_python("""
        import pybuf
        pybuf.alloc(1)
        try:
            import gostats
        except ImportError as e:
            done(error=str(e), runtimes=len(go_runtimes()))
    """, env={"PYBUF_CORE": own_core})
    assert r["runtimes"] == 1
    assert GOSTATS_LIB in r["error"] and own_core in r["error"]
    assert "one library" in r["error"]


def build_go_library(tmp_path_factory, main, modules):
    """tests_py/gomods/<main> built with -buildmode=c-shared into the first of
    `modules`, with a generated __init__.py for each; the directory holding them."""
    go = shutil.which("go")
    assert go is not None, "building tests_py/gomods needs the Go toolchain on PATH"
    top = tmp_path_factory.mktemp(main)
    library = top / modules[0] / LIBRARY_FILE
    for name in modules:
        (top / name).mkdir()
        rel = os.path.relpath(library, top / name)
        (top / name / "__init__.py").write_text(INIT_TEMPLATE.format(name=name, library=rel))
    from pybuf._golink import LDFLAGS
    p = subprocess.run([go, "build", "-buildmode=c-shared", "-ldflags=" + LDFLAGS, "-o", str(library),
                        f"./tests_py/gomods/{main}"],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CGO_ENABLED": "1"},
                       timeout=600)
    assert p.returncode == 0, p.stderr
    return str(top)


@pytest.fixture(scope="session")
def gotwo(tmp_path_factory):
    """gotwo built on its own: a second Go library next to gostats."""
    return build_go_library(tmp_path_factory, "libtwo", ["gotwo"])


@pytest.fixture(scope="session")
def goboth(tmp_path_factory):
    """gotwo and gothree built into one library."""
    return build_go_library(tmp_path_factory, "libboth", ["gotwo", "gothree", "gobad", "goresults"])


def test_a_wrong_registration_is_an_import_error_not_a_crash(goboth):
    r = run_python("""
        import gotwo
        try:
            import gobad
            error = None
        except ImportError as e:
            error = str(e)
        done(error=error, two=gotwo.twice(2))
    """, path=[goboth])
    lib = os.path.join(goboth, "gotwo", LIBRARY_FILE)
    assert r["error"] == (f"cannot import gobad from the Go library {lib}: pymod: module gobad: gobad.count: "
                          "parameter m: type map[string]int cannot be a parameter (bool, integers, floats, "
                          "complex, string, and slices or pymod.Array of those numbers can)")
    assert r["two"] == 4


def test_gobuild_generates_a_main_per_library_and_an_entry_point(tmp_path):
    from pybuf import gobuild
    kw = gobuild.go_modules({"alpha": "./a", "beta": "example.com/b"})
    assert kw["entry_points"] == {"pybuf.go_library": ["alpha = alpha:_pybuf_go.so"]}
    assert [e.name for e in kw["ext_modules"]] == ["alpha._pybuf_go"]
    assert kw["cmdclass"]["build_ext"] is gobuild.BuildGoModules
    gobuild.write_main(str(tmp_path), [], [gobuild.CORE_IMPORT, "example.com/a", "example.com/b"],
                       "func main() {}")
    assert (tmp_path / "main.go").read_text() == (
        "// Generated by pybuf.gobuild; do not edit.\npackage main\n\nimport (\n"
        '\t_ "github.com/pybuf-go/pybuf/pybuf/capi"\n\t_ "example.com/a"\n\t_ "example.com/b"\n)\n\n'
        "func main() {}\n")
    with pytest.raises(ValueError):
        gobuild.go_modules({"not-a-name": "."})


def test_array_parameters_borrow_strided_views(goboth):
    r = run_python("""
        import numpy as np
        import gothree
        m = np.arange(16.0).reshape(4, 4)
        views = {"c": m, "transposed": m.T, "flipped": m[::-1], "every_other": m[::2, ::2],
                 "fortran": np.asfortranarray(m)}
        traces = {k: gothree.trace(v) for k, v in views.items()}
        expect = {k: float(np.trace(v)) for k, v in views.items()}
        w = m[::-1, 1:3]
        gothree.negate(w)                      # Go writes through the strided view
        ro = np.arange(4.0).reshape(2, 2)
        ro.setflags(write=False)
        try:
            gothree.negate(ro)
            refused = None
        except BufferError as e:
            refused = str(e)
        try:
            gothree.trace(np.zeros((2, 2), dtype=np.float32))
            wrong = None
        except TypeError as e:
            wrong = str(e)
        done(traces=traces, expect=expect, m=m.tolist(), refused=refused, wrong=wrong)
    """, path=[goboth])
    assert r["traces"] == r["expect"]
    assert r["m"] == [[float(-v) if j in (1, 2) else float(v) for j, v in enumerate(range(4 * i, 4 * i + 4))]
                      for i in range(4)]
    assert r["refused"] == "gothree.negate() argument 'm' is read-only, and gothree.negate writes into it"
    assert r["wrong"] == ("gothree.trace() argument 'm' must hold float64 elements (format \"d\"), "
                          "not format \"f\"")


def test_several_results_are_a_tuple_of_every_kind(goboth):
    r = run_python("""
        import gc
        import numpy as np
        import goresults as g
        kinds = g.kinds(1 + 2j, False, 255 - 1, -128 + 1, "héllo")
        a, b, s, c, d = g.arrays(4)
        arrays = [x.tolist() for x in (a, b, c)] + [str(x.dtype) for x in (a, b, c)]
        pins = g.pins()
        del a, b, c
        gc.collect()
        errors = []
        for call in (lambda: g.kinds(0j, True, 256, 0, ""), lambda: g.kinds(0j, True, -1, 0, ""),
                     lambda: g.kinds(0j, True, 0, 128, ""), lambda: g.kinds(0j, 1, 0, 0, "")):
            try:
                call()
            except (OverflowError, TypeError) as e:
                errors.append([type(e).__name__, str(e)])
        try:
            g.second_fails()
        except ValueError as e:
            errors.append(["ValueError", str(e)])
        counts = [g.count(b"banana", ord("a")), g.count(bytearray(b"aa"), 97), g.count(memoryview(b"xax"), 97),
                  g.count(np.frombuffer(b"aaa", dtype=np.uint8), 97), g.count(b"", 97)]
        try:
            g.count("banana", 97)
        except TypeError as e:
            errors.append(["TypeError", str(e)])
        done(kinds=[[kinds[0].real, kinds[0].imag]] + list(kinds[1:5]) + [kinds[5].decode()],
             types=[type(k).__name__ for k in kinds], arrays=arrays, s=s, d=[type(d).__name__, list(d)],
             pins=pins, after=g.pins(), errors=errors, counts=counts)
    """, path=[goboth])
    assert r["counts"] == [3, 2, 1, 3, 0]
    assert r["kinds"] == [[-2.0, 1.0], True, 255, 127, "HÉLLO", "héllo"]
    assert r["types"] == ["complex", "bool", "int", "int", "str", "bytes"]
    assert r["arrays"] == [[0.0, 1.0, 2.0, 3.0], [0, -1, -2, -3], [0.0, 2.0, 4.0, 6.0], "float64", "int32", "float64"]
    assert r["s"] == "three arrays, then bytes"
    assert r["d"] == ["bytes", [0, 1, 2, 3]]
    assert (r["pins"], r["after"]) == (3, 0)
    assert r["errors"] == [
        ["OverflowError", "goresults.kinds() argument 'u' is out of range for a Go uint8"],
        ["OverflowError", "goresults.kinds() argument 'u' is out of range for a Go uint8"],
        ["OverflowError", "goresults.kinds() argument 'i' is out of range for a Go int8"],
        ["TypeError", "goresults.kinds() argument 'b' must be a bool, not int"],
        ["ValueError", "goresults.second_fails: result 2: gomem: shape [3] with strides [1] from offset 0 "
                       "reaches outside the slice of 2 elements"],
        ["TypeError", "goresults.count() argument 'b' must be an array (any buffer-protocol object: a NumPy "
                      "array, bytes, bytearray, memoryview), not str"],
    ]


def test_several_go_packages_in_one_library_are_several_modules(goboth):
    r = run_python("""
        import gotwo, gothree, pybuf
        ones = gothree.ones(3)
        done(two=gotwo.twice(21), three=gothree.thrice(1.5), ones=ones.tolist(),
             runtimes=go_runtimes(), docs=[gotwo.__doc__, gothree.__doc__])
    """, path=[goboth])
    assert r["two"] == 42 and r["three"] == 4.5 and r["ones"] == [1.0, 1.0, 1.0]
    assert r["runtimes"] == [os.path.realpath(os.path.join(goboth, "gotwo", LIBRARY_FILE))]
    assert r["docs"] == ["A Go module for the tests.", "Another Go module for the tests."]


@pytest.mark.parametrize("first", ["gostats", "gotwo"])
def test_second_go_library_is_an_import_error_naming_both(gotwo, first):
    second = "gotwo" if first == "gostats" else "gostats"
    r = run_python(f"""
        import {first}
        try:
            import {second}
            done(error=None)
        except ImportError as e:
            done(error=str(e), runtimes=len(go_runtimes()), still={first}.__name__)
    """, path=[gotwo])
    two = os.path.join(gotwo, "gotwo", LIBRARY_FILE)
    assert r["error"] is not None
    assert r["error"].startswith(f"cannot import {second}: its Go library ")
    assert GOSTATS_LIB in r["error"] and two in r["error"]
    assert "build every installed Go module into one library with `python -m pybuf.gobuild bundle`" in r["error"]
    assert r["runtimes"] == 1


def test_a_module_the_library_lacks_is_an_import_error():
    with pytest.raises(ImportError) as e:
        pybuf._pybuf._go_module("nosuch", GOSTATS_LIB)
    assert str(e.value) == (f"cannot import nosuch from the Go library {GOSTATS_LIB}: this Go library "
                            "has no module \"nosuch\" (it has: gostats)")


def test_installed_module_self_checks():
    p = subprocess.run([sys.executable, "-m", "pybuf.gomodule", "gostats"], capture_output=True, text=True,
                       timeout=120, env={k: v for k, v in os.environ.items() if k != "PYBUF_CORE"})
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    assert f"announced library: {GOSTATS_LIB}" in p.stdout
    assert "[ok] gostats: 15 Go functions (add, crash, fail, fresh_blocks, full, full_go_heap, grid, histogram, " \
           "invert2, live_pins, mean, particles, scale, sleep_ms, submatrix)" in p.stdout


def test_forked_child_gets_fork_error_not_a_hang():
    r = run_python("""
        import select, signal
        import gostats, pybuf
        a = gostats.grid(2, 2)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)                    # a hang must not outlive the test
            res = {"view": a.tolist()}
            try:
                gostats.add(1, 2)
                res["add"] = "no error"
            except pybuf.ForkError as e:
                res["add"] = ["ForkError", isinstance(e, RuntimeError)]
            os.write(wfd, json.dumps(res).encode())
            os._exit(0)
        os.close(wfd)
        ready, _, _ = select.select([rfd], [], [], 10.0)
        child = json.loads(os.read(rfd, 65536)) if ready else None
        os.waitpid(pid, 0)
        done(child=child, parent=gostats.add(2, 2))
    """)
    assert r["child"] == {"view": [[0.0, 1.0], [2.0, 3.0]], "add": ["ForkError", True]}
    assert r["parent"] == 4


def test_a_library_built_for_another_core_abi_is_refused_before_loading(tmp_path):
    pkg = tmp_path / "gostats"
    shutil.copytree(os.path.dirname(GOSTATS_LIB), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((pkg / "_pybuf_go.json").read_text())
    source = manifest.pop("source")  # what `python -m pybuf.gobuild bundle` rebuilds gostats from
    assert manifest == {"abi": pybuf._pybuf._core_abi(), "core_version": pybuf.__version__, "modules": ["gostats"]}
    assert source["packages"] == {"gostats": "example.com/gostats"}
    assert sorted(os.listdir(pkg / source["dir"])) == ["go.mod", "go.sum", "gostats.go", "pymod_invokers.go"]
    manifest["abi"] = 1
    (pkg / "_pybuf_go.json").write_text(json.dumps(manifest))
    r = run_python("""
        try:
            import gostats
            error = None
        except ImportError as e:
            error = str(e)
        done(error=error, runtimes=go_runtimes())
    """, path=[str(tmp_path)])
    lib = str(pkg / LIBRARY_FILE)
    assert r["error"] == (f"cannot import gostats: its Go library {lib} embeds pybuf's Go core ABI 1, and the "
                          f"installed pybuf needs ABI {pybuf._pybuf._core_abi()}: rebuild gostats against this "
                          "pybuf (pip install --force-reinstall --no-binary :all: of its project, or pip install . "
                          "in it)")
    assert r["runtimes"] == [], "nothing Go was loaded"


def test_pybuf_skips_an_announced_library_of_another_abi():
    own_core = os.path.join(os.path.dirname(os.path.abspath(pybuf.__file__)), "_pybuf_core.so")
    r = run_python("""
        import pybuf, pybuf.gomodule
        assert pybuf.gomodule.announced_library() is not None
        pybuf.gomodule.built_abi = lambda path: 1      # as if gostats had been built for ABI 1
        pybuf.alloc(1)
        done(runtimes=go_runtimes())
    """)
    assert r["runtimes"] == [os.path.realpath(own_core)]


def test_without_numpy_results_are_buffers():
    r = run_python("""
        sys.modules["numpy"] = None                    # as if NumPy were not installed
        import gostats, pybuf
        g = gostats.grid(2, 3)
        total = gostats.mean(memoryview(bytearray(16)).cast("d"))
        done(type=type(g).__name__, shape=list(g.shape), values=memoryview(g).tolist(), total=total,
             pins=gostats.live_pins())
    """)
    assert r == {"type": "Buffer", "shape": [2, 3], "values": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
                 "total": 0.0, "pins": 1}


def test_import_loads_no_numpy():
    r = run_python("""
        import gostats
        done(numpy="numpy" in sys.modules, add=gostats.add(1, 1))
    """)
    assert r == {"numpy": False, "add": 2}


def test_threads_racing_to_first_use_load_one_core():
    r = run_python("""
        import threading
        import pybuf
        errors, barrier = [], threading.Barrier(8)
        def first_use(i):
            barrier.wait()
            try:
                if i % 2:
                    pybuf.alloc(8)
                else:
                    import gostats
                    gostats.add(i, i)
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done(errors=errors, runtimes=go_runtimes())
    """)
    assert r == {"errors": [], "runtimes": [os.path.realpath(GOSTATS_LIB)]}

"""Python callables as Go funcs (docs/GO_EXTENSIONS.md, "Callbacks"): gokept
(tests_py/gomods/kept) takes func parameters; examples/goptim minimizes a
Python function with gonum/optimize. Each runs in a fresh interpreter (its own
Go library)."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from checkout_copy import checkout_copy
from test_gostats import build_go_library, run_python


@pytest.fixture(scope="module")
def gokept(tmp_path_factory):
    return build_go_library(tmp_path_factory, "libkept", ["gokept"])


def test_callable_is_called_with_numbers_and_fills_slices(gokept):
    r = run_python("""
        import numpy as np, gokept
        seen = []
        def g(x, k):
            seen.append((type(x).__name__, x.dtype.name, x.flags.writeable, k))
            x[:] = np.arange(len(x)) * 2.0
            return float(x.sum())
        s, x = gokept.fill(g, 4)
        done(apply=gokept.apply(lambda v: v * v, 3.0), s=s, x=x.tolist(), seen=seen)
    """, path=[gokept])
    assert r == {"apply": 45.0, "s": 12.0, "x": [0.0, 2.0, 4.0, 6.0],
                 "seen": [["ndarray", "float64", True, 7]]}


def test_exception_in_the_callable_is_raised_itself_with_its_traceback(gokept):
    r = run_python("""
        import traceback, gokept
        boom = KeyError("boom")
        def bad(v):
            raise boom
        out = {}
        for name, call in [("apply", lambda: gokept.apply(bad, 1.0)),
                           ("with_error", lambda: gokept.with_error(bad)),
                           ("parallel", lambda: gokept.parallel(bad, 8))]:
            try:
                call()
            except KeyError as e:
                out[name] = [e is boom, [f.name for f in traceback.extract_tb(e.__traceback__)][-1]]
        done(out=out, after=gokept.apply(abs, -1.0))
    """, path=[gokept])
    assert r["out"] == {"apply": [True, "bad"], "with_error": [True, "bad"], "parallel": [True, "bad"]}
    assert r["after"] == 3.0


def test_callable_from_many_goroutines_takes_the_gil_each_time(gokept):
    r = run_python("""
        import threading, gokept
        threads = set()
        def f(v):
            threads.add(threading.get_ident())
            return v
        done(total=gokept.parallel(f, 50))
    """, path=[gokept])
    assert r == {"total": float(sum(range(50)))}


def test_callable_kept_after_its_call_is_refused(gokept):
    r = run_python("""
        import sys, gokept
        def f(v):
            return v
        before = sys.getrefcount(f)
        gokept.keep_func(f)
        try:
            gokept.call_kept_func()
        except RuntimeError as e:
            done(msg=str(e), refs=sys.getrefcount(f) - before)
    """, path=[gokept])
    assert r["msg"].startswith("gokept.call_kept_func: Go panic: gokept.keep_func: the func given for argument 'f' "
                               "was called after that call returned")
    assert r["refs"] == 0, "Go kept no reference to the callable"


def test_bad_callables_and_results_name_the_argument(gokept):
    r = run_python("""
        import gokept
        out = []
        for call in [lambda: gokept.apply(3, 1.0), lambda: gokept.apply(lambda v: "x", 1.0),
                     lambda: gokept.small(lambda: 300)]:
            try:
                call()
            except Exception as e:
                out.append([type(e).__name__, str(e)])
        done(out=out)
    """, path=[gokept])
    assert r["out"] == [
        ["TypeError", "gokept.apply() argument 'f' must be callable, not int"],
        ["TypeError", "the callable given for gokept.apply() argument 'f' must return a float, not str"],
        ["OverflowError", "the callable given for gokept.small() argument 'f' returned 300 (result 1), out of "
                          "range for a Go int8"],
    ]


def test_named_exception_classes_and_their_fallback(gokept):
    r = run_python("""
        import gokept
        out = {}
        for name in ["concurrent.futures.TimeoutError", "json.JSONDecodeError", "no_such_module.Error",
                     "json.dumps", "not a name"]:
            try:
                gokept.raise_named(name)
            except Exception as e:
                out[name] = [type(e).__module__ + "." + type(e).__qualname__, str(e)]
        done(out=out)
    """, path=[gokept])
    fallback = ["builtins.KeyError", "'gokept.raise_named: named'"]
    assert r["out"] == {
        "concurrent.futures.TimeoutError": ["builtins.TimeoutError", "gokept.raise_named: named"],
        "json.JSONDecodeError": fallback,  # its constructor wants more than a message
        "no_such_module.Error": fallback,
        "json.dumps": fallback,
        "not a name": fallback,
    }


@pytest.fixture(scope="module")
def goptim(tmp_path_factory):
    """examples/goptim built as pip builds it, unpacked (not installed: it is a
    Go runtime of its own, next to gostats)."""
    assert shutil.which("go") is not None, "building examples/goptim needs the Go toolchain on PATH"
    out = tmp_path_factory.mktemp("goptim")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
                        "-w", str(out / "wheel"),
                        os.path.join(checkout_copy(out / "src"), "examples", "goptim")],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    (wheel,) = (out / "wheel").iterdir()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(out / "site")
    return str(out / "site")


def test_goptim_minimizes_a_python_function_with_gonum(goptim):
    r = run_python("""
        import numpy as np, goptim
        calls = []
        def rosen(x):
            calls.append(x.copy())
            return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        def grad(g, x):
            g[0] = -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2)
            g[1] = 200 * (x[1] - x[0] ** 2)
        x, fx = goptim.minimize(rosen, np.array([-1.2, 1.0]))
        xg, fg = goptim.minimize_grad(rosen, grad, np.array([-1.2, 1.0]))
        try:
            goptim.minimize(lambda x: 1 / 0, np.zeros(2))
        except ZeroDivisionError as e:
            err = type(e).__name__
        done(x=x.tolist(), fx=fx, xg=xg.tolist(), calls=len(calls), err=err, doc=goptim.minimize.__doc__)
    """, path=[goptim])
    assert r["x"] == pytest.approx([1.0, 1.0], abs=1e-3)
    assert r["xg"] == pytest.approx([1.0, 1.0], abs=1e-4)
    assert r["fx"] < 1e-6
    assert r["calls"] > 50
    assert r["err"] == "ZeroDivisionError"
    assert r["doc"].startswith("Minimize is a local minimum of f")

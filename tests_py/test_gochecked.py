"""Checked mode of Go modules (PYBUF_GO_CHECKED=1, docs/GO_EXTENSIONS.md): a
borrowed slice used after its call is a Python exception naming the function
and parameter, not a read of freed memory. Each case runs in a fresh
interpreter, since the mode is read when the Go library loads.
"""
import pytest

from test_gostats import build_go_library, run_python

CHECKED = {"PYBUF_GO_CHECKED": "1"}


@pytest.fixture(scope="module")
def gokept(tmp_path_factory):
    return build_go_library(tmp_path_factory, "libkept", ["gokept"])


def test_kept_slice_read_after_numpy_freed_it_is_an_exception(gokept):
    # /work/shared/repros/turn3/go_kept_borrowed_slice.md: rc 134 without checked mode
    r = run_python("""
        import numpy as np, gokept
        x = np.arange(1e6)
        gokept.keep(x)
        del x
        gc.collect()
        try:
            gokept.kept_sum()
        except RuntimeError as e:
            done(type=type(e).__name__, msg=str(e), after=gokept.total(np.ones(3)))
    """, env=CHECKED, path=[gokept])
    assert r["type"] == "RuntimeError"
    assert r["msg"].startswith("gokept.kept_sum: Go panic: memory borrowed from argument 'x' of gokept.keep "
                               "was used after that call returned")
    assert r["after"] == 3.0, "the process goes on"


def test_kept_slice_is_refused_even_while_the_array_lives(gokept):
    r = run_python("""
        import numpy as np, gokept
        x = np.arange(4.0)
        gokept.keep(x)
        try:
            gokept.kept_sum()
        except RuntimeError as e:
            done(msg=str(e), x=x.tolist())
    """, env=CHECKED, path=[gokept])
    assert "argument 'x' of gokept.keep" in r["msg"]
    assert r["x"] == [0.0, 1.0, 2.0, 3.0]


def test_write_without_writes_is_an_exception_and_the_array_is_unchanged(gokept):
    r = run_python("""
        import numpy as np, gokept
        x = np.ones(3)
        try:
            gokept.scribble(x)
        except RuntimeError as e:
            done(msg=str(e), x=x.tolist())
    """, env=CHECKED, path=[gokept])
    assert r["msg"].startswith("gokept.scribble: Go panic: argument 'x' was written, but gokept.scribble does not "
                               "declare it in Writes")
    assert r["x"] == [1.0, 1.0, 1.0]


def test_checked_calls_behave_as_unchecked_ones(gokept):
    r = run_python("""
        import numpy as np, gokept
        x = np.arange(5.0)
        gokept.scale(x[1:], 10.0)
        done(x=x.tolist(), total=gokept.total(np.arange(4.0)), empty=gokept.total(np.empty(0)))
    """, env=CHECKED, path=[gokept])
    assert r == {"x": [0.0, 10.0, 20.0, 30.0, 40.0], "total": 6.0, "empty": 0.0}


def test_without_checked_mode_the_kept_slice_is_not_guarded(gokept):
    r = run_python("""
        import numpy as np, gokept
        x = np.arange(4.0)
        gokept.keep(x)
        done(total=gokept.kept_sum())
    """, path=[gokept])
    assert r == {"total": 6.0}

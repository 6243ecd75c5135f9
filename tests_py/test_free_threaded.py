"""pybuf on free-threaded CPython (3.13t): importing it keeps the GIL off."""

import os
import subprocess
import sys

import pytest

import free_threaded


@pytest.mark.skipif(not free_threaded.FREE_THREADED, reason="needs a free-threaded CPython")
def test_import_keeps_the_gil_off():
    # PYTHON_GIL unset: the module's own declaration (Py_mod_gil) decides
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c",
                        "import sys, pybuf, pybuf._pybuf; print(sys._is_gil_enabled())"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "False", "")


def test_free_threaded_leg_runs_on_a_free_threaded_interpreter():
    # `make test-ft` sets the flag: there, the test above must not be skipped
    if os.environ.get(free_threaded.EXPECT_FLAG):
        assert free_threaded.FREE_THREADED and not sys._is_gil_enabled()


def test_self_check_reports_the_gil_state():
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    r = subprocess.run([sys.executable, "-m", "pybuf"], capture_output=True, text=True,
                       env=env, timeout=120)
    want = "off (free-threaded build)" if free_threaded.FREE_THREADED else "on"
    assert r.returncode == 0, r.stdout + r.stderr
    assert [l.split(None, 1)[1] for l in r.stdout.splitlines() if l.startswith("  GIL ")] == [want]

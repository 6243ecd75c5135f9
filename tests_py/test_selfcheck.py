"""python -m pybuf: the self-check a user runs on a new machine."""

import subprocess
import sys


def test_self_check_passes_and_reports_versions():
    r = subprocess.run([sys.executable, "-m", "pybuf"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for line in ("pybuf 0.1.0", "CPython", "NumPy", "Go core version", "start method", "self-check: passed"):
        assert line in r.stdout
    assert "FAIL" not in r.stdout


def test_self_check_in_a_child_forked_after_first_use_fails_cleanly():
    code = (
        "import os, sys, runpy, pybuf\n"
        "pybuf.alloc(1)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    sys.argv = ['pybuf']\n"
        "    try:\n"
        "        runpy.run_module('pybuf', run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        os._exit(e.code or 0)\n"
        "    os._exit(0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('child exit', os.waitstatus_to_exitcode(status))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "forked child of a process that used pybuf: yes" in r.stdout
    assert "child exit 1" in r.stdout

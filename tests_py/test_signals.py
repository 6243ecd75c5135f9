"""Signals with Go's runtime in the process: Ctrl-C still raises KeyboardInterrupt, and a
crash in unrelated C code is still reported by faulthandler (Go must forward what is not
its own). Every case first uses pybuf so that the Go core is loaded."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fakehelp import describe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")


def start(code, *flags, env=None):
    body = "import numpy as np, pybuf, sys, time\nkeep = pybuf.alloc(16)\n" + \
        textwrap.dedent(code)
    # A run started in the background (make test &, nohup, some CI runners) inherits SIGINT
    # ignored, and children keep SIG_IGN: give the child Python's default handler back.
    return subprocess.Popen([sys.executable, *flags, "-c", body], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt_when_ready(p, after=0.2, timeout=60):
    line = p.stdout.readline()
    assert line.strip() == "ready", line + p.stderr.read()
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, line + out, err


@pytest.mark.parametrize("faulthandler", [False, True])
def test_sigint_during_sleep_raises_keyboard_interrupt(faulthandler):
    p = start("""
        try:
            print("ready", flush=True)
            time.sleep(60)
            print("slept through", flush=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
    """, *(["-X", "faulthandler"] if faulthandler else []))
    rc, out, err = interrupt_when_ready(p)
    assert rc == 0 and "KeyboardInterrupt" in out, describe(rc, out, err)


def test_sigint_during_long_numpy_call_raises_keyboard_interrupt():
    # The signal lands inside a long C call on pybuf-owned memory; Python raises
    # KeyboardInterrupt as soon as that call returns.
    p = start("""
        a = np.asarray(pybuf.alloc(20_000_000, "d"))
        a[:] = np.random.default_rng(0).random(a.size)
        try:
            print("ready", flush=True)
            t0 = time.monotonic()
            for _ in range(50):
                np.sort(a, kind="quicksort")
            print("finished without interrupt", flush=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
    """)
    rc, out, err = interrupt_when_ready(p, after=0.5, timeout=120)
    assert rc == 0 and "KeyboardInterrupt" in out, describe(rc, out, err)


CRASH = """
import ctypes, faulthandler
if {enable_after}:
    faulthandler.enable()
print("enabled", faulthandler.is_enabled(), flush=True)
def unrelated_c_code_crashes():
    ctypes.string_at(8)          # reads address 8: SIGSEGV in libc, not in Go
unrelated_c_code_crashes()
print("survived", flush=True)
"""


@pytest.mark.parametrize("when", ["before_import", "after_first_use"])
def test_segfault_in_unrelated_c_code_reported_by_faulthandler(when):
    flags = ["-X", "faulthandler"] if when == "before_import" else []
    p = start(CRASH.format(enable_after=when == "after_first_use"), *flags)
    out, err = p.communicate(timeout=60)
    rc = p.returncode
    assert "enabled True" in out, describe(rc, out, err)
    assert "survived" not in out
    assert rc == -signal.SIGSEGV, describe(rc, out, err)
    assert "Fatal Python error: Segmentation fault" in err, describe(rc, out, err)
    assert "unrelated_c_code_crashes" in err, describe(rc, out, err)  # the Python traceback
    assert "goroutine " not in err and "panic:" not in err, describe(rc, out, err)

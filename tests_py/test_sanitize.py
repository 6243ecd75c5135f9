"""The sanitizer leg can fail: an out-of-bounds read planted in the shim (cshim/shim.h,
FAULT_OOB_READ: __dlpack__ reads one int64 past the block it allocated) makes
`make test-asan` (tests_py/sanitize/run.py) fail with AddressSanitizer's
heap-buffer-overflow report, pointing at the planted line. Without a sanitizer the read
is harmless: nothing else in the suite would notice it.

It runs inside the sanitizer leg only (the other legs have no use for it, and each would
pay for an instrumented build): that leg is its control, the same runner and flags
without the fault, over the same tests, clean. The variant is built by the runner into
a temporary directory, so the leg's own build (build/asan) is not touched.
"""
import os
import subprocess
import sys

import pytest

from fakehelp import TESTS_DIR, describe

ROOT = os.path.dirname(TESTS_DIR)
RUNNER = os.path.join(TESTS_DIR, "sanitize", "run.py")
FAULT_OOB_READ = 6  # cshim/shim.h

pytestmark = pytest.mark.skipif(not os.environ.get("PYBUF_ASAN"),
                                reason="the sanitizer leg's own proof: runs in make test-asan")


def run_leg(build_dir, fault, *pytest_args):
    env = dict(os.environ, PYBUF_ASAN_DIR=str(build_dir), PYBUF_FAULT=str(fault))
    p = subprocess.run([sys.executable, RUNNER, *pytest_args], capture_output=True, text=True,
                       timeout=900, env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def test_planted_out_of_bounds_read_fails_the_asan_leg(tmp_path):
    rc, out, err = run_leg(tmp_path, FAULT_OOB_READ, "tests_py/test_dlpack.py")
    assert rc != 0, "the planted out-of-bounds read was NOT caught\n" + describe(rc, out, err)
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in err, describe(rc, out, err)
    summary = [l for l in err.splitlines() if l.startswith("SUMMARY: AddressSanitizer")]
    assert summary and "dlpack.c" in summary[0] and "describe" in summary[0], \
        describe(rc, out, err)
    assert "1 sanitizer finding(s)" in out, describe(rc, out, err)

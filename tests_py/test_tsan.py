"""The ThreadSanitizer leg can fail: counts changed by a plain read and write on a
free-threaded build (cshim/shim.h, FAULT_PLAIN_COUNT: what a GIL would have made safe)
make `make test-tsan` (tests_py/sanitize/tsan.py) fail with TSan's data-race report,
pointing at the planted line. Without a sanitizer the lost updates are rare enough that
a run can pass.

It runs inside the TSan leg only (only there is the interpreter instrumented): that leg is
its control, the same runner and flags without the fault, over the same tests, clean.
The variant is built by the runner into a temporary directory, so the leg's own build
(build/tsan) is not touched.
"""
import os
import subprocess
import sys

import pytest

from fakehelp import TESTS_DIR, describe

ROOT = os.path.dirname(TESTS_DIR)
RUNNER = os.path.join(TESTS_DIR, "sanitize", "tsan.py")
FAULT_PLAIN_COUNT = 8  # cshim/shim.h

pytestmark = pytest.mark.skipif(not os.environ.get("PYBUF_TSAN"),
                                reason="the TSan leg's own proof: runs in make test-tsan")


def test_planted_plain_count_fails_the_tsan_leg(tmp_path):
    env = dict(os.environ, PYBUF_TSAN_DIR=str(tmp_path), PYBUF_FAULT=str(FAULT_PLAIN_COUNT),
               PYBUF_THREAD_ITERS="200")
    p = subprocess.run([sys.executable, RUNNER,
                        "tests_py/test_stress_threads.py::test_threads_hammer_shared_owners"],
                       capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    rc, out, err = p.returncode, p.stdout, p.stderr
    assert rc != 0, "the planted plain count was NOT caught\n" + describe(rc, out, err)
    assert "WARNING: ThreadSanitizer: data race" in err, describe(rc, out, err)
    # the planted line is named (the plain write races with itself on another thread,
    # and with the atomic reads of the same counts, which TSan reports there)
    summaries = [l for l in err.splitlines() if l.startswith("SUMMARY: ThreadSanitizer: data race")]
    assert any("shim.h" in l and "gil_counter_add" in l for l in summaries), \
        describe(rc, out, err)

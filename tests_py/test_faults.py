"""The tests can fail: each fault planted in the shim (cshim/shim.h, PYBUF_FAULT) must make
the bounded state machine (test_statemachine.py) fail within its CI budget.

Each variant is the installed package with only the extension recompiled, with
-DPYBUF_FAULT=n, into a temporary directory that goes first on PYTHONPATH. The Go core is
the installed one: the faults live in the C shim. The control build (no fault) must pass,
so a failure is the fault's doing, not the harness's. The control build is also the
build with the shim's assert()s on (no NDEBUG): the state machine runs against every
invariant cshim/release.c states (wheels leave them out).
"""
import os
import subprocess
import sys

import pytest

from fakehelp import ENV_LIB, TESTS_DIR, describe
from shimbuild import build_shim

ROOT = os.path.dirname(TESTS_DIR)
MACHINE = os.path.join(TESTS_DIR, "test_statemachine.py")
EXAMPLES = 500

FAULTS = {
    0: "control: no fault",
    1: "early release: close() releases while buffers live",
    2: "double release: a closed, then deallocated owner releases again",
    3: "skipped export count: every 7th export is not counted",
    4: "eager collector: a garbage owner without exports releases in its finalizer",
    5: "arg not held: an owner's arg may die before its release",
    7: "parent first: a parent's release does not wait for its children's",
}


def build_variant(fault, dest):
    """The installed pybuf package, its extension rebuilt with PYBUF_FAULT=fault."""
    return build_shim(dest, defines=[f"PYBUF_FAULT={fault}"])


def run_machine(pythonpath, fakelib):
    env = dict(os.environ, PYTHONPATH=pythonpath, **{ENV_LIB: fakelib})
    env.pop("PYBUF_CORE", None)
    p = subprocess.run([sys.executable, MACHINE, "--examples", str(EXAMPLES), "--derandomize"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def caught_by(out):
    """The first assertion the state machine failed on (for docs/RELIABILITY.md)."""
    for line in out.splitlines():
        if line.startswith("first failure: "):
            return line[len("first failure: "):]
    return None


@pytest.mark.parametrize("fault", sorted(FAULTS), ids=lambda f: f"fault{f}")
def test_planted_fault_is_caught(fault, tmp_path, fakelib_path):
    where = build_variant(fault, str(tmp_path))
    rc, out, err = run_machine(where, fakelib_path)
    # the variant, not the installed package, is what ran
    assert os.path.join(where, "pybuf") in out, describe(rc, out, err)
    if fault == 0:
        assert rc == 0, describe(rc, out, err)
        env = dict(os.environ, PYTHONPATH=where)
        asserts = subprocess.run(
            [sys.executable, "-c", "from pybuf import _pybuf; print(_pybuf._core_info()['asserts'])"],
            capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert asserts.stdout.strip() == "True", asserts.stderr
        return
    # A failed assertion of the model (rc 1) or, accepted as caught too, a crash on the
    # guard pages (negative rc: killed by a signal).
    assert rc != 0, f"planted fault {fault} ({FAULTS[fault]}) was NOT caught\n" + \
        describe(rc, out, err)
    caught = caught_by(out)
    assert rc < 0 or caught, describe(rc, out, err)
    ran = [l for l in out.splitlines() if l.startswith("state machine:")]
    print(f"fault {fault} ({FAULTS[fault]}): caught, rc={rc}, {ran[:1]}: {caught}")

"""Lifetime bugs reported by users, one minimal script each (tests_py/repros/).

Each script exits 0 once its bug is fixed: it asserts what it needs itself, and a
segfault, an abort or a failed assertion is a non-zero exit here."""
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "repros")
SCRIPTS = sorted(f for f in os.listdir(HERE) if f.endswith(".py"))


def run(script, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-X", "faulthandler", os.path.join(HERE, script)],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("script", SCRIPTS)
def test_repro_exits_cleanly(script):
    r = run(script)
    assert r.returncode == 0, f"{script}: rc {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    assert "Fatal Python error" not in r.stderr


def test_release_over_wrapper_runs_once_with_wrapper_intact():
    r = run("released_at_exit_wrapper_cycle.py", {"PYBUF_REPORT_LEAKS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("released: wrapper intact") == 1, r.stdout
    assert "never released" not in r.stderr


def test_module_level_memoryview_released_at_exit():
    r = run("released_at_exit_module_memoryview.py", {"PYBUF_REPORT_LEAKS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("released at exit") == 1, r.stdout
    assert "never released" not in r.stderr


def test_creator_thread_gone_keeps_owner_listed():
    r = run("leak_creator_thread_gone.py", {"PYBUF_REPORT_LEAKS": "1"})
    assert r.returncode == 0, r.stderr
    assert "release ran: []" in r.stdout      # never on another thread
    assert "never released" in r.stderr       # and named at exit: no silent leak


def test_subclass_del_without_super_still_releases():
    r = run("leak_subclass_del.py")
    assert r.returncode == 0, r.stderr
    assert "release ran: [1] live: []" in r.stdout


def test_core_is_linked_without_async_preemption():
    """A SIGURG after faulthandler freed its signal stack killed about 1 exit in 100
    (pybuf/_golink.py): the core carries asyncpreemptoff=1 as its GODEBUG default."""
    import pybuf
    from pybuf._golink import LDFLAGS
    core = os.path.join(os.path.dirname(pybuf.__file__), "_pybuf_core.so")
    with open(core, "rb") as f:
        assert LDFLAGS.split("=", 2)[2].encode() in f.read()


def test_exit_under_faulthandler_never_dies_of_a_go_signal():
    for _ in range(60):
        r = run("released_at_exit_module_memoryview.py")
        assert r.returncode == 0 and "sigaltstack" not in r.stderr, r.stderr[-2000:]

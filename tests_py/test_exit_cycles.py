"""Runs that end at interpreter exit with wrapper cycles of every pattern still alive
(tests_py/exit_cycles_script.py): no crash, no release twice, and every owner either
released or named by PYBUF_REPORT_LEAKS (never a silent leak); every finalizer that reads
a view at exit reads before its owner's release."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_script(mode):
    r = subprocess.run([sys.executable, "-X", "faulthandler",
                        os.path.join(HERE, "exit_cycles_script.py"), mode],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYBUF_REPORT_LEAKS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("mode", ["plain", "collect-once"])
def test_exit_with_every_cycle_pattern_alive(mode):
    r = run_script(mode)
    assert "Fatal Python error" not in r.stderr
    total = int(re.search(r"total (\d+)", r.stdout).group(1))
    released = re.findall(r"released (c\d+)", r.stdout)
    assert len(released) == len(set(released)), "a release ran twice"
    leaked = set(re.findall(r"^\s+(c\d+) \(", r.stderr, re.M))
    assert not leaked & set(released)
    assert set(released) | leaked == {f"c{i}" for i in range(total)}, (
        "owners neither released nor reported", r.stderr[-2000:])
    # every such cycle is one the collector can free: all are released at exit
    assert not leaked, sorted(leaked)


@pytest.mark.parametrize("mode", ["plain", "collect-once"])
def test_exit_finalizers_read_views_before_their_release(mode):
    """Readers: garbage not collected before exit, and Owner subclasses alive until
    finalization; a read after a release would be a segfault (the run's exit code)."""
    r = run_script(mode)
    total = int(re.search(r"^readers (\d+)$", r.stdout, re.M).group(1))
    events = re.findall(r"^(read|released) (r\d+)(?: (.*))?$", r.stdout, re.M)
    for i in range(total):
        mine = [(what, found) for what, name, found in events if name == f"r{i}"]
        assert mine == [("read", "intact"), ("released", "")], (f"r{i}", mine)

"""PYBUF_GO_TARGET: the architecture and glibc pybuf.gobuild builds a Go module's library for."""

import shlex
import sys

import pytest

from pybuf import _gotarget


def test_unset_builds_for_this_machine(monkeypatch):
    monkeypatch.delenv("PYBUF_GO_TARGET", raising=False)
    monkeypatch.delenv("GOARCH", raising=False)
    monkeypatch.setenv("CC", "my-cc")
    env = _gotarget.library_env()
    assert (env["CC"], env["CGO_ENABLED"], "GOARCH" in env) == ("my-cc", "1", False)


def test_aarch64_target_sets_goarch_and_zig(monkeypatch):
    monkeypatch.setenv("PYBUF_GO_TARGET", "aarch64-linux-gnu.2.17")
    monkeypatch.setattr(_gotarget.importlib.util, "find_spec", lambda name: object())
    env = _gotarget.library_env()
    assert env["GOARCH"] == "arm64"
    assert shlex.split(env["CC"]) == [sys.executable, "-m", "ziglang", "cc", "-target", "aarch64-linux-gnu.2.17"]


def test_x86_64_target_sets_amd64(monkeypatch):
    monkeypatch.setenv("PYBUF_GO_TARGET", "x86_64-linux-gnu.2.28")
    monkeypatch.setattr(_gotarget.importlib.util, "find_spec", lambda name: object())
    assert _gotarget.library_env()["GOARCH"] == "amd64"


def test_target_tags_the_wheel_platform(monkeypatch):
    monkeypatch.setenv("PYBUF_GO_TARGET", "aarch64-linux-gnu.2.17")
    monkeypatch.setenv("_PYTHON_HOST_PLATFORM", "unset")  # restored after the test
    _gotarget.set_wheel_platform()
    assert _gotarget.os.environ["_PYTHON_HOST_PLATFORM"] == "linux-aarch64"


@pytest.mark.parametrize("value", ["arm64-linux-gnu.2.17", "aarch64-linux-musl", "x86_64-linux-gnu", "x86_64-linux-gnu.2.17 -O0"])
def test_bad_target_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("PYBUF_GO_TARGET", value)
    with pytest.raises(ValueError, match="PYBUF_GO_TARGET"):
        _gotarget.target()


def test_target_without_ziglang_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PYBUF_GO_TARGET", "aarch64-linux-gnu.2.17")
    monkeypatch.setattr(_gotarget.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match="pip install ziglang"):
        _gotarget.library_env()

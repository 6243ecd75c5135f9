import gc
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakehelp  # noqa: E402
from fakehelp import Calls, ENV_LIB, compile_fakelib, load_fake  # noqa: E402
from sanitize.skips import skip_reason  # noqa: E402

ASAN_FLAG = "PYBUF_ASAN"  # set by tests_py/sanitize/run.py
ASAN_SKIPPED = []


def pytest_collection_modifyitems(config, items):
    """Under the sanitizer leg (tests_py/sanitize/run.py), skip what cannot run there."""
    if not os.environ.get(ASAN_FLAG):
        return
    for item in items:
        reason = skip_reason(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"under ASan: {reason}"))
            ASAN_SKIPPED.append(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if os.environ.get(ASAN_FLAG):
        terminalreporter.write_line(f"sanitizer leg: {len(ASAN_SKIPPED)} test(s) skipped as "
                                    "unable to run under ASan (tests_py/sanitize/skips.py)")


@pytest.fixture(scope="session", autouse=True)
def fakelib_path(tmp_path_factory):
    """Compile tests_py/clib/fakelib.c once per session; export its path."""
    path = compile_fakelib(tmp_path_factory.mktemp("fakelib"))
    os.environ[ENV_LIB] = path
    return path


@pytest.fixture(scope="session")
def fake(fakelib_path):
    # In the pytest process a double destroy only counts (a test then fails on the
    # count) instead of aborting the whole run; subprocesses use the strict mode.
    return load_fake(fakelib_path, strict=False)


@pytest.fixture
def handle(fake):
    """A fake handle with 16 int32 (0..15)."""
    return fake.create_ints(16)


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def run_isolated(fakelib_path):
    return fakehelp.run_isolated


@pytest.fixture
def unraisable(monkeypatch):
    """Capture what reaches sys.unraisablehook during the test."""
    seen = []

    def hook(u):
        seen.append((u.exc_type, u.exc_value, u.object))

    monkeypatch.setattr(sys, "unraisablehook", hook)
    yield seen
    gc.collect()


@pytest.fixture
def no_trace():
    import pybuf
    pybuf.trace(False)
    yield
    pybuf.trace(False)


@pytest.fixture
def seg():
    """A fresh 64 KiB shared-memory segment, unlinked and closed afterwards."""
    from pybuf import shm

    s = shm.create(1 << 16)
    yield s
    s.unlink()
    s.close()

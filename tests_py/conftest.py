import gc
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakehelp  # noqa: E402
from fakehelp import Calls, ENV_LIB, compile_fakelib, load_fake  # noqa: E402
import free_threaded  # noqa: E402
from sanitize.skips import skip_reason  # noqa: E402

ASAN_FLAG = "PYBUF_ASAN"  # set by tests_py/sanitize/run.py
ASAN_SKIPPED = []


def pytest_configure(config):
    if os.environ.get(free_threaded.EXPECT_FLAG) and not (
            free_threaded.FREE_THREADED and not sys._is_gil_enabled()):
        raise pytest.UsageError(f"{free_threaded.EXPECT_FLAG} is set, but this interpreter "
                                "is not free-threaded with its GIL off (PYTHON_GIL=0)")


class _NoWheelFile(pytest.File):
    """A test file skipped whole on a free-threaded interpreter, never imported."""

    def collect(self):
        pytest.skip(f"free-threaded CPython: {self.reason}", allow_module_level=True)


def pytest_pycollect_makemodule(module_path, parent):
    """A file listed in free_threaded.FILES, on a free-threaded interpreter: skipped,
    not imported (its imports have no wheel there)."""
    rel = os.path.relpath(str(module_path), str(parent.config.rootpath)).replace(os.sep, "/")
    reason = free_threaded.file_skip_reason(rel)
    if reason is None:
        return None
    f = _NoWheelFile.from_parent(parent, path=module_path)
    f.reason = reason
    return f


def pytest_collection_modifyitems(config, items):
    """Skip what cannot run on a free-threaded interpreter (tests_py/free_threaded.py) and,
    under the sanitizer leg (tests_py/sanitize/run.py), what cannot run there."""
    for item in items:
        reason = free_threaded.skip_reason(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"free-threaded CPython: {reason}"))
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

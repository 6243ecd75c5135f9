"""What the suite cannot run on free-threaded CPython (3.13t), and why: only tests
that need a package with no free-threaded wheel (packaging/free_threaded_venv.sh).
conftest.py skips these on a free-threaded interpreter, and only there.

Keys are pytest node ids or their prefixes (a file, a test without its parameters);
a file listed here is not even imported there (its imports would fail).
"""

import sysconfig

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

# Set by `make test-ft`: the session refuses to run unless the interpreter is
# free-threaded and its GIL is off, so the free-threaded tests cannot be skipped there.
EXPECT_FLAG = "PYBUF_EXPECT_FREE_THREADED"

NO_DASK = "Dask (distributed) has no cp313t wheel"
NO_RAY = "Ray has no cp313t wheel"

FILES = {
    "tests_py/test_dask.py": NO_DASK,
    "tests_py/test_dask_hook.py": NO_DASK,
    "tests_py/test_dask_node.py": NO_DASK,
    "tests_py/test_dask_second_host.py": NO_DASK,
    "tests_py/test_dask_serializers.py": NO_DASK,
    "tests_py/test_dask_sizeof.py": NO_DASK,
    "tests_py/test_ray.py": NO_RAY,
}

SKIPS: dict[str, str] = {}


def file_skip_reason(relpath):
    """The reason the file `relpath` (from the repository root) is not collected, or None."""
    return FILES.get(relpath) if FREE_THREADED else None


def skip_reason(nodeid):
    """The reason `nodeid` is skipped on a free-threaded interpreter, or None."""
    if not FREE_THREADED:
        return None
    for key, reason in SKIPS.items():
        if nodeid == key or nodeid.startswith(key + "::") or nodeid.startswith(key + "["):
            return reason
    return None

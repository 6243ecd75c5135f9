"""What the suite cannot run on free-threaded CPython (3.13t), and why: tests that need a
package with no free-threaded wheel (packaging/free_threaded_venv.sh), one that needs a
NumPy newer than the newest with such a wheel, and one that CPython 3.13t itself fails
(a variant that it passes runs there).
conftest.py skips these on a free-threaded interpreter, and only there.

Keys are pytest node ids or their prefixes (a file, a test without its parameters);
a file listed here is not even imported there (its imports would fail).
"""

import importlib.util
import sysconfig

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

# Freed memory made visibly garbage in a test's subprocess: Python objects from glibc's
# malloc, which MALLOC_PERTURB_ fills with 0xA5 on free. A free-threaded CPython allocates
# with mimalloc only (PYTHONMALLOC=malloc is refused there): its debug hooks fill freed
# blocks with 0xDD instead. C memory (the test library's) is glibc's on both.
POISONED_FREES = ({"PYTHONMALLOC": "mimalloc_debug", "MALLOC_PERTURB_": "165"} if FREE_THREADED
                  else {"PYTHONMALLOC": "malloc", "MALLOC_PERTURB_": "165"})

# Set by `make test-ft`: the session refuses to run unless the interpreter is
# free-threaded and its GIL is off, so the free-threaded tests cannot be skipped there.
EXPECT_FLAG = "PYBUF_EXPECT_FREE_THREADED"

NO_DASK = "Dask (distributed) has no cp313t wheel"
NO_RAY = "Ray has no cp313t wheel"
NO_CFFI = "cffi has no cp313t wheel"

FILES = {
    "tests_py/test_dask.py": NO_DASK,
    "tests_py/test_dask_at_work.py": NO_DASK,
    "tests_py/test_dask_hook.py": NO_DASK,
    "tests_py/test_dask_node.py": NO_DASK,
    "tests_py/test_dask_second_host.py": NO_DASK,
    "tests_py/test_dask_serializers.py": NO_DASK,
    "tests_py/test_dask_sizeof.py": NO_DASK,
    "tests_py/test_ray.py": NO_RAY,
}

NUMPY_23 = ("NumPy 2.3.5, the newest with a cp313t wheel, turns an exception raised by a "
            "dtype-like's `dtype` attribute into its own TypeError (2.4 lets it through)")

PENDING_CALL = ("CPython 3.13t: main's release of a memoryview shared through a channel is a "
                "pending call for the subinterpreter that owns it; added while no thread of "
                "that interpreter exists, it is signalled to none made later "
                "(update_eval_breaker_for_thread returns early in free-threaded builds), so "
                "it never runs there; CPython's, not pybuf's. test_subinterpreters.py's "
                "next test runs the same release with a thread of that interpreter alive")

SKIPS = {
    **{f"tests_py/test_repros.py::test_repro_exits_cleanly[{name}]": NO_DASK
       for name in ("closed_client_keeps_small_buffers.py", "from_array_of_buffer.py",
                    "spill_breaks_shm_write_through.py")},
    "tests_py/test_shm_host.py::"
    "test_unpickling_outside_a_dask_message_maps_at_once_even_with_distributed_loaded": NO_DASK,
    "tests_py/test_subinterpreters.py::"
    "test_memoryview_sent_to_another_interpreter_releases_in_its_own": PENDING_CALL,
    "tests_py/test_hostile_names.py::test_dask_header_naming_a_fifo_fails_its_task_at_once":
        NO_DASK,
    "tests_py/test_hostile_names.py::test_dask_header_by_name_bounds_a_numpy_dtype_string":
        NO_DASK,
    "tests_py/test_hostile_objects.py::"
    "test_dtype_like_that_raises_another_exception_propagates_exactly": NUMPY_23,
}

# cffi is required everywhere else (requirements-dev.txt): a missing cffi fails there.
CFFI_MISSING = FREE_THREADED and importlib.util.find_spec("cffi") is None


def usable_kinds(kinds):
    """`kinds` (argument or release kinds) without the cffi ones where cffi cannot be had:
    for loops inside one test, which a skip by name cannot reach."""
    return [k for k in kinds if not (CFFI_MISSING and "cffi" in k)]


def file_skip_reason(relpath):
    """The reason the file `relpath` (from the repository root) is not collected, or None."""
    return FILES.get(relpath) if FREE_THREADED else None


def skip_reason(nodeid):
    """The reason `nodeid` is skipped on a free-threaded interpreter, or None."""
    if not FREE_THREADED:
        return None
    # a test parametrized over release or argument kinds: its cffi cases
    if "cffi" in nodeid.partition("[")[2] and CFFI_MISSING:
        return NO_CFFI
    for key, reason in SKIPS.items():
        if nodeid == key or nodeid.startswith(key + "::") or nodeid.startswith(key + "["):
            return reason
    return None

"""What the sanitizer leg (run.py) cannot run, and why. conftest.py skips these when
PYBUF_ASAN is set; everything else in tests_py runs under AddressSanitizer.

Keys are pytest node ids or their prefixes (a file, a test without its parameters).
"""

# A process that dies of SIGSEGV by design: the test asserts the kernel's verdict
# (returncode -SIGSEGV) or faulthandler's report. ASan's own SEGV handler (handle_segv,
# kept on so that a crash in the shim comes with its stack) reports the same fault
# and aborts instead, and the report counts as a finding.
DIES_OF_SIGSEGV = "its subprocess dies of SIGSEGV by design; ASan's SEGV handler would " \
    "report it and abort instead"

# Ray starts its own services (raylet and GCS in C++, agents and workers in Python with
# grpc and Cython extensions); they inherit the preload, so every one of them runs under
# ASan. On a loaded 2-core machine the node then missed Ray's startup deadline (and the
# same run held a use-after-free report from a process it did not name). test_ray.py
# runs in the 3.11, 3.12 and 3.13 legs.
RAY_UNDER_ASAN = "Ray's own services and workers would all run under the ASan preload; " \
    "the suite's Ray tests run in the uninstrumented legs"

# test_gobundle.py builds wheels of its own (pybuf's among them, without the sanitizer)
# into a new virtualenv: it tests building and loading Go modules, not the shim's memory.
OWN_BUILD = "it builds and runs a pybuf of its own, without the sanitizer, in a new virtualenv"

SKIPS = {
    "tests_py/test_ray.py": RAY_UNDER_ASAN,
    "tests_py/test_gobundle.py": OWN_BUILD,
    "tests_py/test_signals.py::test_segfault_in_unrelated_c_code_reported_by_faulthandler":
        DIES_OF_SIGSEGV,
    "tests_py/test_shm_vs_sharedmemory.py::test_close_with_views_sharedmemory_unmaps_under_an_ndarray":
        DIES_OF_SIGSEGV,
}


def skip_reason(nodeid):
    """The reason `nodeid` is skipped under ASan, or None."""
    for key, reason in SKIPS.items():
        if nodeid == key or nodeid.startswith(key + "::") or nodeid.startswith(key + "["):
            return reason
    return None

"""`make test-tsan`: pybuf's thread tests on free-threaded CPython 3.13t built with
ThreadSanitizer, the GIL off.

    .venv-3.13t-tsan/bin/python tests_py/sanitize/tsan.py [pytest args...]
                                                   (default: TESTS below)

The interpreter is CPython 3.13t configured --with-thread-sanitizer
(packaging/free_threaded_python.sh --tsan), so CPython itself, and with it every lock,
atomic and thread it has, is instrumented; NumPy is its cp313t wheel (not instrumented:
TSan sees its memory accesses only through the interceptors). The shim is rebuilt by
tests_py/shimbuild.py with -fsanitize=thread and its assert()s on (no NDEBUG) into
build/tsan (PYBUF_TSAN_DIR), which goes first on PYTHONPATH; the installed package is
left alone. The Go core is the installed one (Go code is not instrumented; what it
allocates with C's malloc is, see tsan.supp).

Suppressions: CPython's own list for its free-threaded build (Tools/tsan/
suppressions_free_threading.txt, kept beside the interpreter when it is built), then
tests_py/sanitize/tsan.supp: each entry there names what it silences and why, and none
names pybuf's shim. Reports go to files under a report directory (log_path), so a race
in a subprocess a test starts counts too; the run fails when pytest fails or when any
report holds a warning, and prints each one.

PYBUF_FAULT=n builds a planted fault (cshim/shim.h) into the shim; test_tsan.py uses
fault 8 (plain counts) to show that the run can fail.
"""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS_DIR)
sys.path.insert(0, TESTS_DIR)

from shimbuild import build_sanitized  # noqa: E402

SANITIZE = ["-fsanitize=thread"]
CFLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", *SANITIZE]
# Marks the run for test_tsan.py, which runs only inside it.
ENV_FLAG = "PYBUF_TSAN"
# The thread tests: views, exports, closes and releases on several threads at once, the
# release threads, the free-threaded checks, the trees' rechecks under the owner's lock,
# the hammer (its iterations per thread: PYBUF_THREAD_ITERS below), and interpreters,
# own-GIL ones in parallel among them (their iterations: PYBUF_INTERP_ITERS).
TESTS = ["tests_py/test_threads.py", "tests_py/test_release_thread.py",
         "tests_py/test_free_threaded.py", "tests_py/test_stress_threads.py",
         "tests_py/test_trees.py", "tests_py/test_subinterpreters.py", "tests_py/test_tsan.py"]
HAMMER_ITERS = os.environ.get("PYBUF_THREAD_ITERS", "3000")
INTERP_ITERS = os.environ.get("PYBUF_INTERP_ITERS", "500")
OWN_SUPPRESSIONS = os.path.join(HERE, "tsan.supp")


def check_interpreter():
    config = sysconfig.get_config_var("CONFIG_ARGS") or ""
    if "--with-thread-sanitizer" not in config or not sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise SystemExit("test-tsan: run me with the free-threaded CPython built with "
                         "ThreadSanitizer (packaging/free_threaded_venv.sh --tsan)")


def cpython_suppressions():
    path = os.path.join(sys.base_prefix, "share", "tsan-suppressions.txt")
    if not os.path.exists(path):
        raise SystemExit(f"test-tsan: {path} is missing (packaging/free_threaded_python.sh "
                         "--tsan keeps CPython's suppressions there)")
    return path


def suppressions(report_dir):
    """One file (TSan reads one): CPython's list, then pybuf's."""
    path = os.path.join(report_dir, "suppressions.txt")
    with open(path, "w") as out:
        for part in (cpython_suppressions(), OWN_SUPPRESSIONS):
            with open(part) as f:
                out.write(f"# --- {part}\n{f.read()}\n")
    return path


def sanitizer_env(build_dir, report_dir):
    return {
        # exitcode=0: a process with a report exits as it would have (a test that checks
        # a subprocess's status is not failed by it); the reports are counted below.
        "TSAN_OPTIONS": ":".join([
            f"suppressions={suppressions(report_dir)}", f"log_path={report_dir}/report",
            "exitcode=0", "halt_on_error=0", "second_deadlock_stack=1"]),
        "PYTHON_GIL": "0",
        "PYBUF_EXPECT_FREE_THREADED": "1",
        "PYBUF_THREAD_ITERS": HAMMER_ITERS,
        "PYBUF_INTERP_ITERS": INTERP_ITERS,
        "PYTHONPATH": os.pathsep.join(p for p in [build_dir, os.environ.get("PYTHONPATH")] if p),
        ENV_FLAG: "1",
    }


WARNING = re.compile(r"^WARNING: ThreadSanitizer: ", re.M)


def reports(report_dir):
    """The report files (report.<pid>) that hold a warning, as (name, text)."""
    found = []
    for name in sorted(os.listdir(report_dir)):
        if not name.startswith("report"):
            continue
        with open(os.path.join(report_dir, name), errors="replace") as f:
            text = f.read()
        if WARNING.search(text):
            found.append((name, text))
    return found


def main(argv):
    check_interpreter()
    build_dir = os.path.abspath(os.environ.get("PYBUF_TSAN_DIR", os.path.join(ROOT, "build", "tsan")))
    t0 = time.monotonic()
    build_sanitized(build_dir, cflags=CFLAGS, ldflags=SANITIZE)
    built = time.monotonic() - t0
    report_dir = tempfile.mkdtemp(prefix="pybuf-tsan-")
    try:
        env = dict(os.environ, **sanitizer_env(build_dir, report_dir))
        env.pop("PYBUF_CORE", None)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               *(argv or TESTS)]
        print("+", " ".join(cmd), flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        found = reports(report_dir)
        for name, text in found:
            print(f"--- {name}\n{text}", file=sys.stderr)
        warnings = sum(len(WARNING.findall(text)) for _, text in found)
        print(f"test-tsan: pytest exit {rc}, {warnings} ThreadSanitizer warning(s) in "
              f"{len(found)} process(es); shim built in {built:.0f} s, "
              f"{time.monotonic() - t0:.0f} s in all", flush=True)
        return 1 if rc or found else 0
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make test-asan`: the pytest suite against the C shim built with AddressSanitizer and
UndefinedBehaviorSanitizer.

    python tests_py/sanitize/run.py [pytest args...]      (default: all of tests_py)

The shim is rebuilt by tests_py/shimbuild.py (the same build as test_faults.py's control
build: no NDEBUG, so the shim's assert()s run too) with -fsanitize=address,undefined and
-fno-sanitize-recover=all, into build/asan/ (PYBUF_ASAN_DIR), which goes first on
PYTHONPATH; the installed package is left alone. The Go core is the installed one.

CPython is not built with ASan, so its runtime is preloaded (LD_PRELOAD, from
`cc -print-file-name=libasan.so`); every process the tests start inherits the
environment, and with it the preload, the options and the sanitized package.
PYTHONMALLOC=malloc: every Python object then comes from malloc, so ASan sees the bounds
and the frees of what the shim reads (pymalloc's arenas would hide both). Leak detection
is off (CPython keeps its objects at exit by design). ASan's reports are written to files under
the report directory (log_path), not to stderr, so a finding in a subprocess whose
output a test reads or discards still counts: the run fails when pytest fails or when any
report holds a finding, and prints each one. UBSan's go to stderr (see UBSAN_OPTIONS).

PYBUF_FAULT=n builds a planted fault (cshim/shim.h) into the sanitized shim;
test_sanitize.py uses it to show that the run can fail.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS_DIR)
sys.path.insert(0, TESTS_DIR)

from shimbuild import build_sanitized  # noqa: E402

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
CFLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", *SANITIZE]
# Marks the run for conftest.py, which skips what cannot run under ASan (skips.py).
ENV_FLAG = "PYBUF_ASAN"


def runtime_library():
    cc = os.environ.get("CC", "cc")
    path = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        raise SystemExit(f"test-asan: {cc} has no libasan.so (install gcc's libasan)")
    return os.path.realpath(path)


def sanitizer_env(build_dir, report_dir):
    report = os.path.join(report_dir, "report")
    return {
        "LD_PRELOAD": runtime_library(),
        # allocator_may_return_null: a huge request fails as it does with glibc (the
        # MemoryError tests ask for it) instead of aborting. handle_segv: a crash is
        # reported with its stack; allow_user_segv_handler: the Go runtime and
        # faulthandler install theirs after ASan's and chain to it.
        "ASAN_OPTIONS": ":".join([
            "detect_leaks=0", "allocator_may_return_null=1", "abort_on_error=1",
            "halt_on_error=1", "handle_segv=1", "allow_user_segv_handler=1",
            "detect_stack_use_after_return=0", f"log_path={report}"]),
        # GCC's libubsan, loaded beside a preloaded libasan, ignores log_path: its reports
        # go to the process's stderr, and -fno-sanitize-recover=all aborts the process,
        # which fails pytest itself or the test that checks the subprocess's status.
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:abort_on_error=1",
        "PYTHONMALLOC": "malloc",
        "PYTHONPATH": os.pathsep.join(p for p in [build_dir, os.environ.get("PYTHONPATH")] if p),
        ENV_FLAG: "1",
    }


# A finding: ASan's "==pid==ERROR: AddressSanitizer: ..." or UBSan's "file:line:col: runtime
# error: ...". A file may hold only warnings (a huge malloc refused under
# allocator_may_return_null, which the tests ask for): those are not findings.
FINDING = re.compile(r"^==\d+==ERROR: |: runtime error: ", re.M)


def reports(report_dir):
    """(findings, warnings): the report files (report.<pid>) as (name, text), those with
    an error and those with warnings only."""
    findings, warnings = [], []
    for name in sorted(os.listdir(report_dir)):
        with open(os.path.join(report_dir, name), errors="replace") as f:
            text = f.read()
        (findings if FINDING.search(text) else warnings).append((name, text))
    return findings, warnings


def main(argv):
    python = sys.executable  # the interpreter pybuf is installed in (make: $(PY))
    build_dir = os.path.abspath(os.environ.get("PYBUF_ASAN_DIR", os.path.join(ROOT, "build", "asan")))
    t0 = time.monotonic()
    build_sanitized(build_dir, cflags=CFLAGS, ldflags=SANITIZE)
    built = time.monotonic() - t0
    report_dir = tempfile.mkdtemp(prefix="pybuf-asan-")
    try:
        env = dict(os.environ, **sanitizer_env(build_dir, report_dir))
        env.pop("PYBUF_CORE", None)
        cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               *(argv or ["tests_py"])]
        print("+", " ".join(cmd), flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        found, warned = reports(report_dir)
        for name, text in found:
            print(f"--- {name}\n{text}", file=sys.stderr)
        print(f"test-asan: pytest exit {rc}, {len(found)} sanitizer finding(s), "
              f"{len(warned)} process(es) with warnings only; shim built in {built:.0f} s, "
              f"{time.monotonic() - t0:.0f} s in all", flush=True)
        return 1 if found or rc != 0 else 0
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

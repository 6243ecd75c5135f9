"""`make memcheck`: a focused pytest subset under valgrind memcheck.

    python tests_py/valgrind/memcheck.py [pytest args...]

Builds the Go core with Go's valgrind support (`go build -tags valgrind`, Go >= 1.25: the
runtime describes its heap and stacks to memcheck, so the report is not drowned in Go
runtime noise) into a temporary directory and points PYBUF_CORE at it. CPython runs with
PYTHONMALLOC=malloc so that memcheck sees every Python allocation. Fails when any error
has a pybuf frame (the shim `_pybuf*.so`, its cshim/*.c sources, or the Go core); prints
the total number of errors and how many were pybuf's.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TESTS = [
    "tests_py/test_lifetime.py", "tests_py/test_scenario.py", "tests_py/test_dlpack.py",
    "tests_py/test_errors.py", "tests_py/test_from_buffer.py", "tests_py/test_addresses.py",
    "tests_py/test_statemachine.py",
]
SHIM_SOURCES = tuple(sorted(f for f in os.listdir(os.path.join(ROOT, "cshim")) if f.endswith(".c")))
PYBUF_FRAME = re.compile(r"_pybuf|pybuf_|\((%s):\d+\)" % "|".join(map(re.escape, SHIM_SOURCES)))
ERROR_START = re.compile(r"^==\d+== (Invalid (read|write|free)|Use of uninitialised|"
                         r"Conditional jump|Syscall param|Mismatched free|Source and destination|"
                         r"Argument '|Invalid \w+)")


def build_core(outdir):
    core = os.path.join(outdir, "_pybuf_core.so")
    # -w: no DWARF; valgrind 3.19 cannot read Go's DWARF 5 and would only warn about it
    subprocess.run(["go", "build", "-tags", "valgrind", "-trimpath", "-ldflags=-w",
                    "-buildmode=c-shared", "-o", core, "./pybuf/cmd/pybufcore"],
                   cwd=ROOT, check=True, env=dict(os.environ, CGO_ENABLED="1"), timeout=600)
    return core


def error_blocks(log):
    """Each memcheck error as its list of lines."""
    blocks, cur = [], None
    for line in log.splitlines():
        if ERROR_START.match(line):
            cur = [line]
            blocks.append(cur)
        elif cur is not None and re.match(r"^==\d+== +(at|by|Address|Block|\s)", line):
            cur.append(line)
        else:
            cur = None
    return blocks


def main(argv):
    python = os.environ.get("PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))
    tmp = tempfile.mkdtemp(prefix="pybuf-memcheck-")
    try:
        core = os.environ.get("PYBUF_VALGRIND_CORE") or build_core(tmp)
        logfile = os.path.join(tmp, "memcheck.log")
        env = dict(os.environ, PYTHONMALLOC="malloc", PYBUF_CORE=core,
                   PYBUF_SM_EXAMPLES=os.environ.get("PYBUF_SM_EXAMPLES", "40"))
        cmd = ["valgrind", "--tool=memcheck", "--leak-check=no", "--error-limit=no",
               "--num-callers=30", f"--suppressions={os.path.join(HERE, 'python.supp')}",
               f"--log-file={logfile}", python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               *(argv or DEFAULT_TESTS)]
        print("+", " ".join(cmd), flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        log = open(logfile).read()
        if os.environ.get("PYBUF_MEMCHECK_LOG"):
            shutil.copy(logfile, os.environ["PYBUF_MEMCHECK_LOG"])
        blocks = error_blocks(log)
        ours = [b for b in blocks if any(PYBUF_FRAME.search(l) for l in b[1:])]
        for b in ours:
            print("\n".join(b), file=sys.stderr)
        m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        if m is None:       # valgrind itself failed (bad suppression file, ...)
            print(log[-3000:], file=sys.stderr)
            return 2
        total = int(m.group(1))
        print(f"valgrind memcheck: {total} errors after suppressions, {len(ours)} in pybuf code"
              f" (pytest exit {rc})", flush=True)
        if rc != 0:
            print(log[-3000:], file=sys.stderr)
        return 1 if ours or rc != 0 else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

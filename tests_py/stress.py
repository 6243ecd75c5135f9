"""`make stress`: the long versions of the reliability tests, with their figures.

    python tests_py/stress.py [--examples 20000] [--thread-iters 20000] [--fuzztime 60s]
                              [--interp-python PYTHON] [--interp-iters 200000]

1. the lifetime state machine, random, --examples examples (test_statemachine.py);
2. the thread hammer, PYBUF_THREADS x --thread-iters (test_stress_threads.py);
3. 4 own-GIL interpreters in parallel x --interp-iters, on --interp-python (CPython 3.13+,
   default: this one) (test_subinterpreters.py);
4. every Go fuzz target of pybuf/layout for --fuzztime each.
Prints one summary line per part (the figures docs/RELIABILITY.md quotes); exits non-zero
when any part fails.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHUNK = 4000
FUZZ_TARGETS = ["FuzzParseFormat", "FuzzCheck", "FuzzCheckRegion"]


def run(cmd, env=None, timeout=None):
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **(env or {})), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--thread-iters", type=int, default=20000)
    ap.add_argument("--fuzztime", default="60s")
    ap.add_argument("--interp-python", default=sys.executable)
    ap.add_argument("--interp-iters", type=int, default=200000)
    a = ap.parse_args(argv)
    py, summary, failed = sys.executable, [], False

    t0 = time.monotonic()
    # In chunks of fresh processes: the guard-page library never unmaps a destroyed handle
    # (so that a late access faults), and one process runs out of mappings after ~20,000
    # handles.
    done = steps = chunks = 0
    while done < a.examples:
        rc, out = run([py, os.path.join(HERE, "test_statemachine.py"),
                       "--examples", str(min(CHUNK, a.examples - done))])
        m = re.search(r"state machine: (\d+) examples executed \((\d+) steps\)", out)
        if m is None or rc != 0:
            print(out[-6000:])
            failed = True
            break
        done, steps, chunks = done + int(m.group(1)), steps + int(m.group(2)), chunks + 1
    summary.append(f"state machine: {done} examples executed ({steps} steps) in {chunks} "
                   f"processes rc={'1' if failed else '0'}")

    rc, out = run([py, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                   os.path.join(HERE, "test_stress_threads.py")],
                  env={"PYBUF_THREAD_ITERS": str(a.thread_iters)})
    line = [l for l in out.splitlines() if l.startswith("threads:")]
    summary.append((line[-1] if line else "threads: no summary") + f" rc={rc}")
    failed |= rc != 0
    if rc:
        print(out[-6000:])

    rc, out = run([a.interp_python, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                   os.path.join(HERE, "test_subinterpreters.py"), "-k", "parallel"],
                  env={"PYBUF_INTERP_ITERS": str(a.interp_iters)})
    line = [l for l in out.splitlines() if l.startswith("interpreters:")]
    summary.append((line[-1] if line else "interpreters: no summary") + f" rc={rc}")
    failed |= rc != 0 or not line
    if rc or not line:
        print(out[-6000:])

    total = 0
    for t in FUZZ_TARGETS:
        rc, out = run(["go", "test", "./pybuf/layout", "-run=^$", f"-fuzz=^{t}$",
                       f"-fuzztime={a.fuzztime}"])
        execs = [int(x) for x in re.findall(r"execs: (\d+)", out)]
        n = execs[-1] if execs else 0
        total += n
        summary.append(f"fuzz {t}: {n} execs in {a.fuzztime} rc={rc}")
        failed |= rc != 0
        if rc:
            print(out[-6000:])
    summary.append(f"fuzz total: {total} execs")

    print("\n== stress summary ({:.0f}s) ==".format(time.monotonic() - t0))
    for s in summary:
        print(s)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make stress`: the long versions of the reliability tests, with their figures.

    python tests_py/stress.py [--examples 20000] [--thread-iters 20000] [--fuzztime 60s]
                              [--interp-python PYTHON] [--interp-iters 200000]

1. the lifetime state machine, random, --examples examples (test_statemachine.py), its
   hostile rules (hostile.py) and tree rules included, in fresh processes so that a crash
   is counted;
2. the thread hammer, PYBUF_THREADS x --thread-iters (test_stress_threads.py);
3. 4 own-GIL interpreters in parallel x --interp-iters, on --interp-python (CPython 3.13+,
   default: this one) (test_subinterpreters.py);
4. every Go fuzz target of pybuf/layout for --fuzztime each.
Prints one summary line per part (the figures docs/RELIABILITY.md quotes); exits non-zero
when any part fails.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
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
    ap.add_argument("--parts", default="machine,threads,interp,fuzz",
                    help="which parts to run (machine alone: the state machine's figures)")
    ap.add_argument("--chunk", type=int, default=2000,
                    help="state machine: examples per process")
    ap.add_argument("--jobs", type=int, default=1,
                    help="state machine: processes at a time")
    ap.add_argument("--max-failures", type=int, default=10,
                    help="state machine: stop after this many failed processes")
    ap.add_argument("--without", action="append", default=[], metavar="RULE",
                    help="state machine: leave a hostile rule out (measurements only)")
    a = ap.parse_args(argv)
    py, summary, failed = sys.executable, [], False

    t0 = time.monotonic()
    if "machine" in a.parts:
        failed |= state_machine(py, a, summary)
    if "threads" in a.parts:
        failed |= threads(py, a, summary)
    if "interp" in a.parts:
        failed |= interpreters(a, summary)
    if "fuzz" in a.parts:
        failed |= fuzz(a, summary)
    return report(t0, summary, failed)


def threads(py, a, summary):
    rc, out = run([py, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                   os.path.join(HERE, "test_stress_threads.py")],
                  env={"PYBUF_THREAD_ITERS": str(a.thread_iters)})
    line = [l for l in out.splitlines() if l.startswith("threads:")]
    summary.append((line[-1] if line else "threads: no summary") + f" rc={rc}")
    if rc:
        print(out[-6000:])
    return rc != 0


def interpreters(a, summary):
    rc, out = run([a.interp_python, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                   os.path.join(HERE, "test_subinterpreters.py"), "-k", "parallel"],
                  env={"PYBUF_INTERP_ITERS": str(a.interp_iters)})
    line = [l for l in out.splitlines() if l.startswith("interpreters:")]
    summary.append((line[-1] if line else "interpreters: no summary") + f" rc={rc}")
    if rc or not line:
        print(out[-6000:])
    return rc != 0 or not line


def fuzz(a, summary):
    total, failed = 0, False
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
    return failed


def report(t0, summary, failed):
    print("\n== stress summary ({:.0f}s) ==".format(time.monotonic() - t0))
    for s in summary:
        print(s)
    return 1 if failed else 0


def state_machine(py, a, summary):
    """The state machine in chunks of fresh processes, --jobs at a time: the guard-page
    library never unmaps a destroyed handle (so that a late access faults), and one process
    runs out of mappings after ~20,000 handles (about 4,000 examples with the hostile rules);
    on a free-threaded CPython each collection walks the whole heap, which grows with each
    example, so smaller chunks run faster there (--chunk). A process that fails, or dies of
    a signal (a crash the hostile rules found), counts as one failure; the other chunks go
    on, so that the figures say how often, until --max-failures. Returns True when any
    chunk failed."""
    sizes = [min(a.chunk, a.examples - i) for i in range(0, a.examples, a.chunk)]
    totals = {"done": 0, "steps": 0, "hostile": 0, "chunks": 0, "failures": 0}
    rules, tree = {}, {}
    lock = threading.Lock()

    def one_chunk(size, tmp, k):
        with lock:
            if totals["failures"] >= a.max_failures:
                return
        progress = os.path.join(tmp, f"progress-{k}")
        rc, out = run([py, "-X", "faulthandler", os.path.join(HERE, "test_statemachine.py"),
                       "--examples", str(size), "--progress", progress]
                      + [f"--without={r}" for r in a.without])
        m = re.search(r"state machine: (\d+) examples executed \((\d+) steps, (\d+) hostile\)",
                      out)
        if m is not None:
            n, st, ho = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:   # died: the progress file says how far it got
            with open(progress) if os.path.exists(progress) else open(os.devnull) as f:
                got = f.read().split()
            n, st, ho = (int(got[0]), int(got[1]), int(got[2])) if got else (0, 0, 0)
        with lock:
            for k2, v in re.findall(r"(\w+)=(\d+)", "".join(re.findall(r"hostile steps:.*", out))):
                rules[k2] = rules.get(k2, 0) + int(v)
            for k2, v in re.findall(r"(\w+)=(\d+)", "".join(re.findall(r"tree steps:.*", out))):
                tree[k2] = tree.get(k2, 0) + int(v)
            totals["chunks"] += 1
            totals["done"] += n
            totals["steps"] += st
            totals["hostile"] += ho
            if rc != 0 or m is None:
                totals["failures"] += 1
                what = f"signal {-rc}" if rc < 0 else f"rc={rc}"
                print(f"state machine FAILURE {totals['failures']}: {what} in example {n} of "
                      f"process {k + 1}")
                print(out[-6000:], flush=True)

    with tempfile.TemporaryDirectory(prefix="pybuf-stress-") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            for f in [pool.submit(one_chunk, size, tmp, k) for k, size in enumerate(sizes)]:
                f.result()
    t = totals
    summary.append(f"state machine: {t['done']} examples executed ({t['steps']} steps, "
                   f"{t['hostile']} hostile steps) in {t['chunks']} processes ({a.jobs} at a "
                   f"time), {t['failures']} failures rc={'1' if t['failures'] else '0'}")
    summary.append("state machine hostile steps: " +
                   " ".join(f"{k}={v}" for k, v in sorted(rules.items())))
    summary.append("state machine tree steps: " +
                   " ".join(f"{k}={v}" for k, v in sorted(tree.items())))
    return t["failures"] > 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

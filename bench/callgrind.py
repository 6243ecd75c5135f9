"""Instruction counts per operation on the creation path, under callgrind.

Wall-clock figures on the shared 2-core machine move by ±15%; instruction
counts do not. Each scenario runs WARM times, then N times between two calls of
getppid(), and callgrind dumps its counters before each getppid() call
(--dump-before=getppid): the dump that ends after the loop holds the loop alone.

    python bench/callgrind.py [--n 2000] [--out build/callgrind] [--top 12] [scenario ...]

prints instructions per operation for each scenario and, with --top, the
functions that cost most in it (inclusive), from callgrind_annotate.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys

WARM = 300

SETUP = r"""
import ctypes, os, sys
import numpy as np
import cffi
import pybuf
ffi = cffi.FFI()
mem = ctypes.create_string_buffer(4096)
addr = ctypes.addressof(mem)
cptr = ffi.cast("int *", addr)
def noop_release():
    pass
sys.path.insert(0, BENCH_DIR)
from create import _ai_owner  # the same alternative as make bench's group 1
AIOwner = _ai_owner(addr)
buf = pybuf.alloc(512, "d")
arr = np.zeros(512)
ba = bytearray(4096)
i32 = np.int32
"""

SCENARIOS = {
    "wrap(addr, 10, 'i')": "pybuf.wrap(addr, 10, 'i')",
    "wrap(addr, 10, np.int32)": "pybuf.wrap(addr, 10, i32)",
    "wrap(cffi_ptr, 10, 'i')": "pybuf.wrap(cptr, 10, 'i')",
    "wrap(addr, 10, 'i', release=f)": "pybuf.wrap(addr, 10, 'i', release=noop_release)",
    "AIOwner() create+drop": "AIOwner()",
    "np.asarray(wrap(addr, 10, 'i'))": "np.asarray(pybuf.wrap(addr, 10, 'i'))",
    "np.asarray(bytearray(40))": "np.asarray(bytearray(40))",
    "bytearray(40)": "bytearray(40)",
    "np.asarray(buf), view + drop": "np.asarray(buf)",
    "np.asarray(bytearray), view + drop": "np.asarray(ba)",
    "Owner()": "pybuf.Owner()",
    "Owner(release=f)": "pybuf.Owner(release=noop_release)",
    "np.from_dlpack(buf)": "np.from_dlpack(buf)",
    "np.from_dlpack(ndarray)": "np.from_dlpack(arr)",
}


def child(names: list[str], n: int) -> None:
    g: dict = {"BENCH_DIR": os.path.dirname(os.path.abspath(__file__))}
    exec(SETUP, g)
    for name in names:
        code = compile(f"for _ in range({WARM}):\n    {SCENARIOS[name]}\n", name, "exec")
        exec(code, g)
        loop = compile(f"for _ in range({n}):\n    {SCENARIOS[name]}\n", name, "exec")
        os.getppid()            # dump: everything before the loop
        exec(loop, g)
        os.getppid()            # dump: the loop


def total_ir(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise ValueError(f"{path}: no totals")


def top_functions(path: str, top: int) -> list[str]:
    """The functions with the most instructions of their own (exclusive), as
    "share%  file:function [object]"."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=99", path],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+)(?:\s+\[(.*)\])?", line)
        if m and not m.group(3).startswith("PROGRAM"):
            where = m.group(3).rsplit("/", 1)[-1]
            obj = os.path.basename(m.group(4) or "")
            rows.append(f"{m.group(2):>6}%  {where} [{obj}]")
    return rows[:top]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join("build", "callgrind"))
    ap.add_argument("--top", type=int, default=0)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    names = a.scenarios or list(SCENARIOS)
    if a.child:
        child(names, a.n)
        return
    os.makedirs(a.out, exist_ok=True)
    for old in glob.glob(os.path.join(a.out, "cg.out*")):
        os.remove(old)
    base = os.path.join(a.out, "cg.out")
    # Go's asynchronous preemption signals trip callgrind's signal tracking.
    env = dict(os.environ, GODEBUG="asyncpreemptoff=1")
    subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=getppid",
                    f"--callgrind-out-file={base}", sys.executable, __file__, "--child",
                    "--n", str(a.n), *names], check=True, stderr=subprocess.DEVNULL, env=env)
    dumps = sorted(glob.glob(base + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    # dumps: [setup+warm of 1st], loop 1st, warm 2nd, loop 2nd, ...; then the rest at exit
    for i, name in enumerate(names):
        path = dumps[2 * i + 1]
        print(f"{total_ir(path) / a.n:10.0f} instructions/op  {name}")
        for row in top_functions(path, a.top) if a.top else []:
            print("             " + row)


if __name__ == "__main__":
    main()

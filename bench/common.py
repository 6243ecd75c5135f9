"""Shared machinery for the pybuf benchmarks: the interleaved timer, the tiny
C library the cycle and memory benchmarks use, RSS probes, machine facts.

Timings are never asserted: this machine has two noisy cores, so every row is a
ratio against an alternative measured in the same run, round by round.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import timeit
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- timing

# Sample length: long enough that timer resolution and one scheduler tick do
# not matter, short enough that a round of 4-5 alternatives stays well under
# 100 ms, so drift between alternatives within a round is small.
SAMPLE_S = 0.02


@dataclass
class Stat:
    """Per-operation times (seconds) of one alternative, one value per round."""

    name: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as % of the median: the spread we report."""
        if len(self.samples) < 4:
            return 100 * (max(self.samples) - min(self.samples)) / self.median
        q = statistics.quantiles(self.samples, n=4)
        return 100 * (q[2] - q[0]) / self.median


def calibrate(timer: timeit.Timer, sample_s: float = SAMPLE_S) -> int:
    """Loop count so one sample of `timer` lasts about `sample_s`."""
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= sample_s / 4 or number >= 1 << 24:
            return max(1, int(number * sample_s / max(t, 1e-9)))
        number *= 4


def interleaved(cases: dict[str, tuple[str, dict]], rounds: int = 21, warmup: int = 3,
                setup: str = "pass", number: int | None = None) -> dict[str, Stat]:
    """Time each `stmt` (run with its globals) `rounds` times, interleaved.

    Each round runs every alternative once, starting at a different one each
    round, so slow phases of a noisy machine hit all alternatives alike and
    no alternative always runs right after the same other one. The same loop
    count is used for all alternatives (calibrated on the first), so per-loop
    overhead is the same small constant everywhere. timeit's statement is
    compiled inline: no Python call per iteration dilutes the ratios.
    """
    timers = {name: timeit.Timer(stmt, setup, globals=g) for name, (stmt, g) in cases.items()}
    names = list(timers)
    if number is None:
        number = calibrate(timers[names[0]])
    stats = {n: Stat(n) for n in names}
    for r in range(warmup + rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t = timers[name].timeit(number) / number
            if r >= warmup:
                stats[name].samples.append(t)
    return stats


# ---------------------------------------------------------------- results

@dataclass
class Row:
    """One table row: `subject` against `against`, both from the same run."""

    group: str
    label: str
    subject: Stat | None
    against: Stat | None
    unit: str = "ns"           # how the absolute figures print
    target: str = ""           # e.g. "<= 1.10x"; empty: no target, context only
    met: bool | None = None
    ratio: float | None = None  # set explicitly for non-timing rows
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.subject and self.against:
            self.ratio = paired_ratio(self.subject, self.against)


def paired_ratio(a: Stat, b: Stat) -> float:
    """Median over rounds of a/b measured in the same round.

    Rounds are interleaved, so both figures of a pair saw the same load on
    the shared cores; the median of those ratios is steadier than the ratio
    of the two medians when load comes in bursts. Falls back to the ratio of
    medians when the rounds do not pair up (a measurement that crashed).
    """
    if len(a.samples) == len(b.samples):
        return statistics.median(x / y for x, y in zip(a.samples, b.samples))
    return a.median / b.median


def fmt_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_stat(st: Stat | None, unit: str) -> str:
    if st is None:
        return "-"
    if unit == "ns":
        return f"{fmt_time(st.median)} ±{st.iqr_pct:.0f}%"
    if unit == "B":
        return f"{st.median:,.0f} B"
    return f"{st.median:.3g} {unit}"


# ---------------------------------------------------------------- the C library

C_SOURCE = r"""
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>

/* A malloc/free-like library: the handle is the data, as with malloc. */
void *bench_create(size_t nbytes) { return malloc(nbytes ? nbytes : 1); }
void *bench_data(void *h) { return h; }
void bench_destroy(void *h) { free(h); }
void bench_noop(void *h) { (void)h; }

/* Big untouched mappings: mmap'd pages cost no RSS until written. */
typedef struct { void *p; size_t n; } bench_map;
void *bench_map_create(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    bench_map *m = malloc(sizeof *m);
    m->p = p; m->n = n;
    return m;
}
void *bench_map_data(void *h) { return ((bench_map *)h)->p; }
void bench_map_destroy(void *h) { bench_map *m = h; munmap(m->p, m->n); free(m); }
"""

CDEF = """
void *bench_create(size_t nbytes);
void *bench_data(void *h);
void bench_destroy(void *h);
"""

_libdir: tempfile.TemporaryDirectory | None = None


def c_library_path() -> str:
    """Compile the C library once per run (cc into a temp dir, removed at
    exit) and return its path. Measurement subprocesses get the path through
    BENCH_CLIB and never create a directory of their own."""
    global _libdir
    if os.environ.get("BENCH_CLIB"):
        return os.environ["BENCH_CLIB"]
    if _libdir is None:
        _libdir = tempfile.TemporaryDirectory(prefix="pybuf-bench-")
    so = os.path.join(_libdir.name, "libbench.so")
    if not os.path.exists(so):
        src = os.path.join(_libdir.name, "bench.c")
        with open(src, "w") as f:
            f.write(C_SOURCE)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
    return so


def c_library(path: str | None = None):
    """The library through ctypes, with restypes set (ints in, ints out)."""
    import ctypes

    lib = ctypes.CDLL(path or c_library_path())
    for fn in ("bench_create", "bench_data", "bench_map_create", "bench_map_data"):
        getattr(lib, fn).restype = ctypes.c_void_p
    for fn in ("bench_data", "bench_destroy", "bench_noop", "bench_map_data", "bench_map_destroy"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.bench_create.argtypes = lib.bench_map_create.argtypes = [ctypes.c_size_t]
    return lib


# ---------------------------------------------------------------- memory probes

def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def report(**figures) -> None:
    """In a measurement subprocess: hand figures to the parent as soon as they
    exist, so a later crash (e.g. while releasing) loses only what follows."""
    print(json.dumps(figures), flush=True)


def in_subprocess(module: str, func: str, *args, timeout: float = 240) -> dict:
    """Run bench/<module>.py's `func(*args)` in a fresh interpreter and merge
    the figures it report()s.

    Each memory measurement gets its own process so RSS starts clean and
    nothing earlier (arenas, the Go heap) is counted. A crash or timeout adds
    {"error": ...} instead of taking the whole run down.
    """
    code = (f"import sys, json; sys.path.insert(0, {HERE!r}); import {module}; "
            f"{module}.{func}(*json.loads(sys.argv[1]))")
    env = {**os.environ, "BENCH_CLIB": c_library_path()}
    try:
        p = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code, json.dumps(args)],
                           capture_output=True, text=True, timeout=timeout, env=env)
        out, rc, err = p.stdout, p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        out, rc, err = (e.stdout or b"").decode(), "timeout", ""
    figures: dict = {}
    for line in out.splitlines():
        if line.startswith("{"):
            figures.update(json.loads(line))
    if rc != 0:
        lines = [l for l in err.strip().splitlines() if l.strip()]
        figures["error"] = f"{func}{tuple(args)}: exit status {rc}" + (f" ({lines[0]})" if lines else "")
    return figures


# ---------------------------------------------------------------- machine facts

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _go_version() -> str:
    try:
        return subprocess.run(["go", "version"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "go not found"


def machine_info() -> dict[str, str]:
    import numpy
    import pybuf

    pybuf.alloc(1)  # the core loads at first use; only then is its version known
    core = pybuf._pybuf._core_info()
    return {
        "CPU": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "affinity": str(len(os.sched_getaffinity(0))),
        "kernel": platform.release(),
        "Python": platform.python_version() + " " + platform.python_implementation(),
        "NumPy": numpy.__version__,
        "pybuf": pybuf.__version__,
        "pybuf Go core": str(core.get("version")),
        # the tree is under active development: say which build was measured
        "pybuf build (mtime of _pybuf)": datetime.datetime.fromtimestamp(
            os.path.getmtime(pybuf._pybuf.__file__)).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "Go": _go_version(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }

"""Row 3: work on the data. Once NumPy holds the pointer, a pybuf array is a
plain ndarray over foreign memory, so sum/dot/add should cost the same as on
NumPy's own memory; the checking subclass pays on every call instead."""

from __future__ import annotations

import numpy as np
import pybuf

from common import Row, interleaved, paired_ratio

SIZES = (10**3, 10**5, 10**7)
OPS = {
    "sum": "a.sum()",
    "dot": "np.dot(a, b)",
    # out= keeps allocation (page faults for 80 MB results) out of the figure:
    # all three operands are of the kind being measured.
    "add": "np.add(a, b, out=c)",
}


def _on_c_malloc(lib, n):
    """A float64 pybuf array over the C library's malloc'd memory."""
    h = lib.bench_create(n * 8)
    return np.asarray(pybuf.wrap(h, n, "d", release=lib.bench_destroy, arg=h))


def _on_numpy_memory(n):
    """A float64 pybuf array over memory NumPy allocated (borrowed, kept alive
    by the Python-callable release), so page size and alignment match the
    plain array exactly and only pybuf's part differs."""
    mem = np.empty(n)
    return np.asarray(pybuf.wrap(mem.ctypes.data, n, "d", release=lambda: mem))




def within_noise(a, b, control: float) -> bool:
    """|ratio - 1| within the noise: the larger of 3%, half the larger IQR and
    the A/A control's own distance from 1."""
    noise = max(0.03, max(a.iqr_pct, b.iqr_pct) / 200, abs(control - 1))
    return abs(paired_ratio(a, b) - 1) <= noise


def work_rows(lib) -> list[Row]:
    from cycle import _checked_subclass

    _, Checked = _checked_subclass(lib)
    rng = np.random.default_rng(0)
    rows = []
    for n in SIZES:
        src = [rng.standard_normal(n) for _ in range(3)]
        kinds = {
            "pybuf": [_on_numpy_memory(n) for _ in range(3)],
            "pybuf on C malloc": [_on_c_malloc(lib, n) for _ in range(3)],
            "numpy": [np.empty(n) for _ in range(3)],
            # A/A control: a second set of plain arrays. Its ratio to the
            # first shows what placement alone (alignment, 4K aliasing between
            # operands, page colouring) does, with no pybuf anywhere.
            "numpy again": [np.empty(n) for _ in range(3)],
            # the subclass over NumPy memory: only its Python-level checks differ
            "checked": [np.empty(n).view(Checked) for _ in range(3)],
        }
        for arrs in kinds.values():
            for dst, s in zip(arrs, src):
                dst[...] = s          # touch every page before timing
        for op, stmt in OPS.items():
            cases = {k: (stmt, {"np": np, "a": a, "b": b, "c": c}) for k, (a, b, c) in kinds.items()}
            # Big sizes take ms per call: fewer rounds keep the total run short.
            st = interleaved(cases, rounds=41 if n >= 10**7 else 61, warmup=3)
            control = paired_ratio(st["numpy again"], st["numpy"])
            label = f"{op}, n=10^{len(str(n)) - 1}"
            rows.append(Row("3 work", f"{label}: pybuf vs numpy", st["pybuf"], st["numpy"],
                            target="1.00x ± noise",
                            met=within_noise(st["pybuf"], st["numpy"], control),
                            note=f"A/A control, numpy vs numpy: {control:.3g}x"))
            rows.append(Row("3 work", f"{label}: pybuf vs checking subclass", st["pybuf"],
                            st["checked"]))
            rows.append(Row("3 work", f"{label}: pybuf over C malloc vs numpy",
                            st["pybuf on C malloc"], st["numpy"],
                            note="memory placement, not pybuf: NumPy madvises huge pages"
                                 " for big arrays, glibc malloc does not" if n >= 10**7 else ""))
    return rows

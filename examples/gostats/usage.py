"""Using gostats from Python: the typed API its .pyi stubs describe.

Run it after `pip install --no-build-isolation ./examples/gostats`; `make
typecheck` checks it with mypy --strict against the generated stubs.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

import gostats


def summary(x: npt.NDArray[np.float64]) -> tuple[float, list[int]]:
    counts = gostats.histogram(x, 4, float(x.min()), float(x.max()))
    return gostats.mean(x), [int(c) for c in counts]


def main() -> None:
    x = np.linspace(0.0, 1.0, 101)
    print("add:", gostats.add(2, 3))
    print("mean, histogram:", summary(x))

    g = gostats.grid(3, 4)                        # Go memory, no copy
    s = gostats.submatrix(3, 4, 1, 3, 1, 3)       # a strided view of one Go grid
    print("grid[2, 3] =", g[2, 3], "submatrix strides:", s.strides)

    gostats.scale(x, 2.0)                         # Go writes into NumPy's memory
    print("scaled max:", x.max())

    p = gostats.particles(3)
    print("particles:", p["id"].tolist(), p["x"].tolist(), p["y"].tolist())

    try:
        gostats.fail("bad input")
    except ValueError as e:
        print("fail ->", repr(e))
    try:
        gostats.crash()
    except RuntimeError as e:
        print("crash ->", e)

    threads = [threading.Thread(target=gostats.sleep_ms, args=(100,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    print("pinned while views live:", gostats.live_pins())
    del g, s, p
    print("pinned after the last view:", gostats.live_pins())


if __name__ == "__main__":
    main()

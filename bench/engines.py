"""Group 6: 200 MiB through Dask (a LocalCluster of 2 worker processes) and
Ray (local, 1 CPU): a plain ndarray against a pybuf Buffer, a pybuf.shm
Buffer and a NumPy view of one, in the same run.

Each engine runs in its own measurement subprocess (a crash or a missing
package costs its rows, not the run). Times are per operation, from sending
to having the worker's answer; the bytes are what the object costs on the
wire (pickled or serialized as Dask and Ray do, frames included).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Row, Stat, in_subprocess, interleaved, report  # noqa: E402

MIB = 1 << 20
SIZE = 200 * MIB
ROUNDS, WARMUP = 5, 1
RAY_ROUNDS = 15  # Ray rounds are short, and one in a few takes a page-faulting store write
TARGET = 0.20  # issue 13: an shm Buffer through Dask in at most 0.2x the plain ndarray's time


def _first(x):
    import numpy as np

    return float(np.asarray(x).reshape(-1)[0])


def _payloads():
    """name -> object, every one 200 MiB of float64, and the segment to clean up."""
    import numpy as np

    import pybuf
    from pybuf import shm

    n = SIZE // 8
    plain = np.ones(n)
    buf = pybuf.alloc(n, "<d")
    np.asarray(buf)[:] = 1.0
    seg = shm.create(SIZE)
    view = seg.buffer(0, n, "<d")
    np.asarray(view)[:] = 1.0
    return {"ndarray": plain, "Buffer": buf, "shm Buffer": view, "ndarray of shm": np.asarray(view)}, seg


def _samples(stats: dict[str, Stat]) -> dict[str, list[float]]:
    return {name: st.samples for name, st in stats.items()}


def _dask_wire_bytes(x) -> tuple[int, int]:
    """(submit: pickled argument, scatter: serialized for a same-host worker)."""
    from distributed.protocol import pickle as dask_pickle
    from distributed.protocol.serialize import serialize

    from pybuf._shm_host import host_token

    frames: list = []
    submitted = len(dask_pickle.dumps(x, buffer_callback=frames.append)) + sum(memoryview(f).nbytes for f in frames)
    header, frames = serialize(x, serializers=["dask", "pickle"], context={"recipient": {"pybuf-shm-host": host_token()}})
    scattered = len(repr(header)) + sum(memoryview(f).nbytes for f in frames)
    return submitted, scattered


def measure_dask() -> None:
    import warnings

    from distributed import Client, LocalCluster

    # "Sending large graph of size 200.00 MiB": the point of the by-value rows.
    warnings.filterwarnings("ignore", message="Sending large graph")

    payloads, seg = _payloads()
    report(wire={name: _dask_wire_bytes(x) for name, x in payloads.items()})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      worker_dashboard_address=":0") as cluster, Client(cluster) as client:
        g = {"client": client, "first": _first, **{f"x{i}": x for i, x in enumerate(payloads.values())}}
        submit = {name: (f"client.submit(first, x{i}, pure=False).result()", g)
                  for i, name in enumerate(payloads)}
        report(submit=_samples(interleaved(submit, rounds=ROUNDS, warmup=WARMUP, number=1)))
        scatter = {name: (f"client.submit(first, client.scatter(x{i}, hash=False)).result()", g)
                   for i, name in enumerate(payloads)}
        report(scatter=_samples(interleaved(scatter, rounds=ROUNDS, warmup=WARMUP, number=1)))
    seg.unlink()


def measure_ray() -> None:
    import pickle

    import ray

    payloads, seg = _payloads()
    wire = {}
    for name, x in payloads.items():
        frames: list = []
        wire[name] = len(pickle.dumps(x, protocol=5, buffer_callback=frames.append)) + sum(
            f.raw().nbytes for f in frames)
    report(wire=wire)
    # Ray's workers import this module to run _first: they inherit the environment.
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        first = ray.remote(_first)
        g = {"ray": ray, "first": first, **{f"x{i}": x for i, x in enumerate(payloads.values())}}
        put_get = {name: (f"ray.get(ray.put(x{i}))", g) for i, name in enumerate(payloads)}
        report(put_get=_samples(interleaved(put_get, rounds=RAY_ROUNDS, warmup=WARMUP, number=1)))
        task = {name: (f"ray.get(first.remote(x{i}))", g) for i, name in enumerate(payloads)}
        report(task=_samples(interleaved(task, rounds=RAY_ROUNDS, warmup=WARMUP, number=1)))
    finally:
        ray.shutdown()
        seg.unlink()


def _fmt_bytes(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n} B"


def _rows(engine: str, op: str, samples: dict[str, list[float]], wire: dict[str, list[int]], wire_index: int,
          target: bool) -> list[Row]:
    stats = {name: Stat(name, s) for name, s in samples.items()}
    rows = []
    for name in ("Buffer", "shm Buffer", "ndarray of shm"):
        if name not in stats:
            continue
        note = ""
        if name in wire and "ndarray" in wire:
            note = f"on the wire: {_fmt_bytes(wire[name][wire_index])} vs {_fmt_bytes(wire['ndarray'][wire_index])}"
        row = Row("6 distributed", f"{engine} {op} 200 MiB: {name} vs ndarray", stats[name], stats["ndarray"],
                  unit="ns", note=note)
        if target and name == "shm Buffer":
            row.target, row.met = f"<= {TARGET:.2f}x", row.ratio is not None and row.ratio <= TARGET
        rows.append(row)
    return rows


def distributed_rows() -> tuple[list[Row], list[str]]:
    """The rows, and a line for each engine that could not be measured."""
    rows: list[Row] = []
    errors: list[str] = []
    dask = in_subprocess("engines", "measure_dask", timeout=600)
    if "submit" in dask:
        rows += _rows("Dask", "submit", dask["submit"], dask.get("wire", {}), 0, True)
    if "scatter" in dask:
        rows += _rows("Dask", "scatter", dask["scatter"], dask.get("wire", {}), 1, True)
    if "error" in dask:
        errors.append(f"Dask: {dask['error']}")
    ray = in_subprocess("engines", "measure_ray", timeout=600)
    wire = {k: [v] for k, v in ray.get("wire", {}).items()}
    if "put_get" in ray:
        rows += _rows("Ray", "put+get", ray["put_get"], wire, 0, False)
    if "task" in ray:
        rows += _rows("Ray", "task argument", ray["task"], wire, 0, False)
    if "error" in ray:
        errors.append(f"Ray: {ray['error']}")
    return rows, errors


if __name__ == "__main__":
    from run import print_table

    found, failed = distributed_rows()
    print_table(found)
    for e in failed:
        print("FAILED:", e)

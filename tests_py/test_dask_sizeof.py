"""dask.sizeof counts a Buffer's bytes (and a segment's), through the
``dask.sizeof`` entry point group; ``import pybuf`` imports no Dask."""

import importlib.metadata
import json
import subprocess
import sys

import pytest
from dask.sizeof import sizeof

import pybuf
from pybuf import shm


def test_entry_point_is_declared_in_the_installed_metadata():
    found = [ep for ep in importlib.metadata.entry_points(group="dask.sizeof") if ep.name == "pybuf"]
    assert [ep.value for ep in found] == ["pybuf._dask_sizeof:register"]


def test_import_pybuf_imports_neither_dask_nor_ray():
    code = (
        "import sys, json, pybuf\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'ray'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_dask_finds_the_entry_point_in_a_fresh_process():
    # Nothing imports pybuf first: Dask loads it through the entry point.
    code = (
        "import sys\n"
        "from dask.sizeof import sizeof\n"
        "assert 'pybuf' in sys.modules\n"
        "import pybuf\n"
        "print(sizeof(pybuf.alloc((1024, 1024), 'd')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(8 << 20)


@pytest.mark.parametrize(
    "shape, dtype, nbytes",
    [((200, 1024), "d", 200 * 1024 * 8), ((3,), "B", 3), ((0, 5), "i", 0), ((2, 3, 4), "<f4", 96)],
)
def test_buffer_counts_its_bytes(shape, dtype, nbytes):
    assert sizeof(pybuf.alloc(shape, dtype)) == nbytes


def test_strided_region_counts_its_elements():
    b = pybuf.alloc((4, 6), "<d")
    assert sizeof(b.region(8, (4, 2), strides=(48, 16))) == 64


def test_axis_of_stride_zero_counts_once():
    b = pybuf.alloc(8, "d")
    assert sizeof(b.region(0, (4, 3), strides=(8, 0))) == 32
    assert sizeof(b.region(0, (0, 3), strides=(0, 8))) == 0


def test_segment_counts_its_size_and_its_buffers_their_bytes():
    with shm.create(1 << 20) as seg:
        try:
            assert sizeof(seg) == 1 << 20
            assert sizeof(seg.buffer(4096, (100,), "<f8")) == 800
        finally:
            seg.unlink()

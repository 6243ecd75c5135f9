"""pybuf's distributed integration loads when distributed is imported, in
either order, and in a process that never imports pybuf itself (a Dask
worker or scheduler): Dask's dask.sizeof entry point arms it."""

import json
import subprocess
import sys

CHECK = """
import json, sys
from distributed.comm.core import Comm
from distributed.protocol.serialize import dask_serialize
import numpy as np
import pybuf, pybuf._distributed as d
from pybuf._shm_host import host_token

from types import SimpleNamespace
probe = SimpleNamespace(same_host=True)  # all handshake_info reads of its Comm

print(json.dumps({
    "buffer": dask_serialize.dispatch(pybuf.Buffer) is d.serialize_buffer,
    "ndarray": getattr(dask_serialize.dispatch(np.ndarray), "_pybuf_shm", False),
    "handshake": Comm.handshake_info(probe).get("pybuf-shm-host") == host_token(),
}))
"""

REGISTERED = {"buffer": True, "ndarray": True, "handshake": True}


def _run(first):
    out = subprocess.run([sys.executable, "-c", first + CHECK], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_pybuf_first_then_distributed():
    assert _run("import pybuf, sys\nassert 'distributed' not in sys.modules\nimport distributed\n") == REGISTERED


def test_distributed_alone_loads_pybuf_through_the_entry_point():
    first = "import sys, distributed\nassert 'pybuf._distributed' in sys.modules, sorted(sys.modules)\n"
    assert _run(first) == REGISTERED

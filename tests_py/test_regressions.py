"""Bugs found after the fact, each pinned by the sequence that exposed it."""

import subprocess
import sys
import textwrap


def run_debug_malloc(code):
    # PYTHONMALLOC=debug fills freed memory with 0xDD: a read after free
    # gives garbage instead of the old value.
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "PYTHONMALLOC": "debug"})


def test_buffer_dealloc_does_not_read_the_freed_buffer():
    # Buffer_dealloc once read self->nbytes after tp_free: the owner's byte
    # count went wrong (and with many owners the process crashed).
    r = run_debug_malloc("""
        import pybuf
        mem = pybuf.alloc(4096)
        owner = pybuf.Owner(name="counted")
        keep = owner.buffer(mem.address, 100)
        for _ in range(1000):
            owner.buffer(mem.address, 4000)      # dies at once
        (info,) = [i for i in pybuf.live() if i.name == "counted"]
        print(info.buffers, info.nbytes)
        bufs = [pybuf.wrap(mem.address, 8) for _ in range(20000)]
        del bufs
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "100", "ok"]

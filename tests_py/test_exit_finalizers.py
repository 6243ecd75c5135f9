"""Finalizers that read views at interpreter exit, in cycles the program never collected.

Each script runs in its own process. Its memory is an anonymous page whose release makes it
PROT_NONE, so a read after the release is a segfault (a non-zero exit here), and every
__del__ and release prints what it did, so the order is asserted, not only the absence of a
crash."""
import os
import subprocess
import sys
import textwrap

import pytest

import subinterp
import free_threaded

HERE = os.path.dirname(os.path.abspath(__file__))

PRELUDE = """\
import atexit, ctypes, gc, os, sys
import pybuf
gc.set_threshold(1 << 30)   # no automatic collection: a cycle stays uncollected until exit
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
def page():
    addr = libc.mmap(None, 4096, 3, 0x22, -1, 0)
    ctypes.memset(addr, 1, 64)
    return addr
def say(*words, _w=os.write):
    _w(1, (" ".join(map(str, words)) + "\\n").encode())
def protect(addr, _mp=libc.mprotect, _say=say):
    _say("released"); _mp(addr, 4096, 0)      # PROT_NONE: a later read segfaults
class Holder:
    '''Another object of the owner's cycle, whose __del__ reads a view it holds.'''
    def __init__(self, owner, addr):
        self.owner, self.view, self.me = owner, memoryview(owner.buffer(addr, 64)), self
    def __del__(self, _say=say):
        _say("holder reads", sum(self.view.tobytes()), "released" if self.owner.released else "open")
"""


def run(body, *args):
    src = PRELUDE + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", src, *args],
                          capture_output=True, text=True, timeout=120, cwd=HERE)


def lines(r):
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    assert "Fatal Python error" not in r.stderr
    return r.stdout.split("\n")


def test_repro_other_del_reads_before_release():
    r = subprocess.run([sys.executable, "-X", "faulthandler",
                        os.path.join(HERE, "repros", "segv_exit_other_del_reads_after_release.py")],
                       capture_output=True, text=True, timeout=120)
    out = lines(r)
    assert out[:3] == ["exit", "__del__ reads 0", "released"], out


def test_repro_subclass_del_reads_before_release():
    r = subprocess.run([sys.executable, "-X", "faulthandler",
                        os.path.join(HERE, "repros", "segv_exit_subclass_del_reads_after_release.py")],
                       capture_output=True, text=True, timeout=120)
    out = lines(r)
    assert out[2] == "STEP exit" and out[3].startswith("REL1 ") and out.count("") == 1, out


@pytest.mark.parametrize("collector", ["", "gc.disable()"], ids=["collector-on", "collector-disabled"])
def test_garbage_cycle_at_exit_other_del_reads_while_owner_open(collector):
    """gc.disable() does not keep the cycle from the two-collection path at exit."""
    out = lines(run(f"""
        {collector}
        addr = page()
        o = pybuf.Owner(release=lambda a=addr: protect(a))
        h = Holder(o, addr)
        del h, o
        say("exit")
    """))
    assert out[:3] == ["exit", "holder reads 64 open", "released"], out


def test_exit_hook_collects_twice_for_a_garbage_owner_and_never_without_owners():
    """pybuf's atexit hook runs before one registered earlier: that one counts the
    collections pybuf made (arm, release; the second armed nothing, so it stops)."""
    body = """
        collections = []
        gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2
                            and collections.append(1))
        atexit.unregister(pybuf._interpreter_ending)
        atexit.register(lambda: say("collections", len(collections)))
        atexit.register(pybuf._interpreter_ending)
        if sys.argv[1:] == ["garbage"]:
            addr = page()
            o = pybuf.Owner(release=lambda a=addr: protect(a))
            h = Holder(o, addr)
            del h, o
        collections.clear()
    """
    assert lines(run(body, "garbage"))[:3] == ["holder reads 64 open", "released",
                                              "collections 2"]
    assert lines(run(body, "none"))[:1] == ["collections 0"]


SUBCLASS = textwrap.dedent("""
    class Wrapped(pybuf.Owner):
        def __init__(self, addr):
            super().__init__(release=lambda a=addr: protect(a))
            self.view = memoryview(memoryview(self.buffer(addr, 64)))
        def __del__(self, _say=say, _how=sys.argv[1]):
            _say("own reads", sum(self.view.tobytes()))
            if _how == "super-first":
                super().__del__()
                _say("after super reads", sum(self.view.tobytes()))
            elif _how == "super-last":
                super().__del__()
    w = Wrapped(page())
""")


def test_subclass_del_body_runs_before_release_when_garbage_at_exit():
    for how in ("super-last", "super-first", "no-super"):
        out = lines(run(SUBCLASS + "del w\nsay('exit')\n", how))
        want = ["exit", "own reads 64"] + (["after super reads 64"] if how == "super-first"
                                           else []) + ["released"]
        assert out[:len(want)] == want, (how, out)


def test_subclass_del_body_runs_before_release_when_alive_until_finalization():
    """A module global until finalization empties __main__: the collection that finds it
    releases at once, but after the subclass's whole own __del__ body."""
    for how in ("super-last", "super-first", "no-super"):
        out = lines(run(SUBCLASS + "say('exit')\n", how))
        want = ["exit", "own reads 64"] + (["after super reads 64"] if how == "super-first"
                                           else []) + ["released"]
        assert out[:len(want)] == want, (how, out)


# Outside the promise (docs/RELIABILITY.md, "At interpreter exit"): a cycle that only
# becomes garbage during finalization is released in the owner's finalizer; a __del__ of
# another object of that cycle that runs after it finds the owner released, and a view it
# kept reads released memory. Here the release only says so (it leaves the page readable).
MODULE_LEVEL_HOLDER = """
    addr = page()
    o = pybuf.Owner(release=lambda: say("released"))
    h = Holder(o, addr)
    if sys.argv[1] == "del-at-exit":
        atexit.register(lambda: globals().pop("h") and globals().pop("o"))
    say("exit")
"""


def test_module_level_holder_del_runs_after_release_at_exit():
    out = lines(run(MODULE_LEVEL_HOLDER, "plain"))
    if free_threaded.FREE_THREADED:
        # Its collector calls a cycle's finalizers in the order it walks the heap, not in
        # the order of a generation's list: the holder's may come first (seen on 3.13t).
        # Either way the release runs once, and a __del__ after it sees it released.
        assert out[:3] in (["exit", "released", "holder reads 64 released"],
                           ["exit", "holder reads 64 open", "released"]), out
    else:
        assert out[:3] == ["exit", "released", "holder reads 64 released"], out


def test_module_level_holder_dropped_by_atexit_reads_before_release():
    """The way out: drop the globals in an atexit callback registered after importing
    pybuf (it runs before pybuf's), so the cycle is garbage when pybuf's hook collects."""
    out = lines(run(MODULE_LEVEL_HOLDER, "del-at-exit"))
    assert out[:3] == ["exit", "holder reads 64 open", "released"], out


@pytest.mark.skipif(not subinterp.SUBINTERPRETERS,
                    reason="CPython < 3.12 has no subinterpreters for extensions")
@pytest.mark.parametrize("own", [pytest.param(False, id="shared-gil"),
                                 pytest.param(True, id="own-gil", marks=pytest.mark.skipif(
                                     not subinterp.OWN_GIL, reason="ctypes: 3.13"))])
def test_garbage_cycle_when_a_subinterpreter_ends_other_del_reads_first(own):
    """A subinterpreter's exit runs pybuf's atexit callback in it: the same two steps."""
    code = PRELUDE + textwrap.dedent("""
        addr = page()
        o = pybuf.Owner(release=lambda a=addr: protect(a))
        h = Holder(o, addr)
        del h, o
        say("end")
    """)
    out = lines(run(f"""
        import subinterp
        interp = subinterp.create({own!r})
        subinterp.run(interp, {code!r})
        subinterp.destroy(interp)
        say("destroyed")
    """))
    assert out[:4] == ["end", "holder reads 64 open", "released", "destroyed"], out

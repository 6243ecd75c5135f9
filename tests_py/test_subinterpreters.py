"""pybuf in subinterpreters: shared-GIL ones (3.12, 3.13) and own-GIL ones (3.13).

Each interpreter has its own module, types, exceptions and hooks; one interpreter's use
never affects another's; live() lists only the calling interpreter's owners; an
interpreter's owners are released in it, at the latest when it is destroyed; own-GIL
interpreters create, export and release in parallel with exact counts.

Every test runs in a fresh process: once a process has created a subinterpreter, CPython
turns PyGILState_Check() off for good (it cannot tell interpreters apart), which other tests
of the suite rely on.

PYBUF_INTERP_ITERS sets the iterations per interpreter of the parallel test (CI: 2000;
`make stress`: more).
"""
import os
import subprocess
import textwrap

import pytest

import subinterp
from fakehelp import describe

pytestmark = pytest.mark.skipif(not subinterp.SUBINTERPRETERS,
                                reason="CPython < 3.12 has no subinterpreters for extensions")
own_gil = pytest.mark.skipif(not subinterp.OWN_GIL,
                             reason="ctypes loads in own-GIL interpreters from CPython 3.13")

INTERP_ITERS = int(os.environ.get("PYBUF_INTERP_ITERS", "2000"))
KINDS = [pytest.param(False, id="shared-gil"), pytest.param(True, id="own-gil", marks=own_gil)]

# Prepended to every snippet (after fakehelp's prelude, which loads `fake`).
HEADER = """\
import threading
import pytest
import subinterp

def count_release():
    \"\"\"(address of fake_count_arg, a fresh counter, its address): a C release whose
    runs the test can count, from any interpreter.\"\"\"
    counter = ctypes.c_long(0)
    fn = ctypes.cast(fake.lib.fake_count_arg, ctypes.c_void_p).value
    return fn, counter, ctypes.addressof(counter)
"""


def in_fresh_process(run_isolated, body, env=None, **subs):
    """Runs HEADER + `body` (with {name} replaced by repr(subs[name])) in a new process;
    returns its stdout and stderr."""
    code = textwrap.dedent(body)
    for name, value in subs.items():
        code = code.replace("{" + name + "}", repr(value))
    rc, out, err = run_isolated(HEADER + code + "\nprint('ok', flush=True)\n",
                                import_pybuf=False, timeout=300, env=env)
    assert rc == 0 and out.rstrip().endswith("ok"), describe(rc, out, err)
    return out, err


# The failure this guards against: after a subinterpreter used pybuf and was destroyed, the main
# interpreter's wrap() of a ctypes array raised NameError from the dead interpreter's hooks.
USE_PYBUF = textwrap.dedent("""
    import ctypes, pybuf
    a = (ctypes.c_ubyte * 16)(*range(16))
    b = pybuf.wrap(a, 16)
    assert bytes(memoryview(b)) == bytes(range(16)), bytes(memoryview(b))
    assert pybuf.wrap(a, (4,), "i").shape == (4,)
    del a, b
""")


@pytest.mark.parametrize("own", KINDS)
def test_main_keeps_working_after_a_subinterpreter_used_pybuf(own, run_isolated):
    in_fresh_process(run_isolated, """
        import pybuf
        exec({use}, {})
        for round_ in range(2):
            interp = subinterp.create({own})
            subinterp.run(interp, {use})
            subinterp.destroy(interp)
            exec({use}, {})
        a = (ctypes.c_ubyte * 16)()
        assert pybuf.wrap(a, 16).nbytes == 16
        with pytest.raises(ValueError, match="address must be >= 0"):
            pybuf.wrap(-1, 16)
    """, use=USE_PYBUF, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_subinterpreter_first_then_main(own, run_isolated):
    """The reverse order: the main interpreter imports pybuf last, then both use it."""
    in_fresh_process(run_isolated, """
        for round_ in range(2):
            interp = subinterp.create({own})
            subinterp.run(interp, {use})
            subinterp.destroy(interp)
        exec({use}, {})
        interp = subinterp.create({own})
        subinterp.run(interp, {use})
        exec({use}, {})
        subinterp.run(interp, {use})
        subinterp.destroy(interp)
        exec({use}, {})
    """, use=USE_PYBUF, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_each_interpreter_has_its_own_module_and_types(own, run_isolated):
    in_fresh_process(run_isolated, """
        import pybuf
        from pybuf import _pybuf
        mine = [id(_pybuf), id(pybuf.Owner), id(pybuf.Buffer), id(pybuf.ForkError),
                id(pybuf.shm.SegmentNotFoundError)]
        interp = subinterp.create({own})
        theirs = subinterp.run_json(interp, \"\"\"
            import pybuf
            from pybuf import _pybuf
            result = [id(_pybuf), id(pybuf.Owner), id(pybuf.Buffer), id(pybuf.ForkError),
                      id(pybuf.shm.SegmentNotFoundError),
                      pybuf.Owner.__module__, pybuf.Buffer.__qualname__,
                      issubclass(pybuf.shm.SegmentNotFoundError, FileNotFoundError)]
        \"\"\")
        subinterp.destroy(interp)
        assert set(theirs[:5]).isdisjoint(mine), (theirs, mine)
        assert theirs[5:] == ["pybuf", "Buffer", True]
    """, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_live_lists_only_the_calling_interpreters_owners(own, run_isolated):
    in_fresh_process(run_isolated, """
        import pybuf
        mine = pybuf.alloc(32, name="main-owner")
        interp = subinterp.create({own})
        seen = subinterp.run_json(interp, \"\"\"
            import pybuf
            kept = [pybuf.alloc(8, name="sub-owner-1"), pybuf.alloc(16, name="sub-owner-2")]
            result = sorted((o.name, o.nbytes) for o in pybuf.live())
        \"\"\")
        assert seen == [["sub-owner-1", 8], ["sub-owner-2", 16]], seen
        # the subinterpreter's owners are alive, and still not the main interpreter's
        assert [(o.name, o.nbytes) for o in pybuf.live()] == [("main-owner", 32)]
        seen = subinterp.run_json(interp, \"\"\"
            del kept
            result = [o.name for o in pybuf.live()]
        \"\"\")
        assert seen == [], seen
        subinterp.destroy(interp)
        assert [o.name for o in pybuf.live()] == ["main-owner"]
        del mine
        assert pybuf.live() == []
    """, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_consumers_in_a_subinterpreter(own, run_isolated):
    in_fresh_process(run_isolated, """
        interp = subinterp.create({own})
        got = subinterp.run_json(interp, \"\"\"
            import ctypes, struct, pybuf
            data = (ctypes.c_int32 * 4)(1, 2, 3, 4)
            released = []
            owner = pybuf.Owner(release=lambda: released.append(1), name="consumed")
            buf = owner.buffer(data, 4, "i")
            m = memoryview(buf)
            arr = (ctypes.c_int32 * 4).from_buffer(buf)
            arr[0] = 10
            values = list(struct.unpack_from("4i", buf))
            exports = owner.exports
            owner.close()
            try:
                memoryview(buf)
                refused = None
            except BufferError as e:
                refused = type(e).__name__
            early = list(released)
            del m, arr, buf
            result = [values, exports, refused, early, released, owner.released,
                      owner.exports]
        \"\"\")
        subinterp.destroy(interp)
        assert got == [[10, 2, 3, 4], 2, "BufferError", [], [1], True, 0], got
    """, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_owners_are_released_when_their_interpreter_ends(own, run_isolated):
    in_fresh_process(run_isolated, """
        fn, counter, counter_addr = count_release()
        interp = subinterp.create({own})
        subinterp.run(interp, f\"\"\"
            import ctypes, pybuf
            data = (ctypes.c_ubyte * 64)()
            def wrap(n, name):
                return pybuf.wrap(data, n, release={fn}, arg={counter_addr}, name=name)
            held = wrap(64, "module-global")           # dropped with the module's globals
            view = memoryview(wrap(8, "exported"))     # an export, dropped with them too
            class Cycle:
                pass
            c = Cycle(); c.me = c; c.buf = wrap(16, "in-a-cycle"); c.view = memoryview(c.buf)
            del c
            leaked = wrap(32, "leaked")                # a reference nothing will drop
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(leaked.owner))
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(leaked))
            del leaked
            closed = wrap(4, "closed, buffer leaked")
            closed.owner.close()
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(closed))
            del closed
        \"\"\")
        # a release for a creator thread that has ended before its interpreter
        creator = threading.Thread(target=subinterp.run, args=(interp, f\"\"\"
            creator = pybuf.Owner(release={fn}, arg={counter_addr}, name="creator thread",
                                  release_thread="creator")
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(creator))
            del creator
        \"\"\"))
        creator.start()
        creator.join()
        subinterp.run(interp, \"\"\"
            names = sorted(o.name for o in pybuf.live())
            assert names == ["closed, buffer leaked", "creator thread", "exported",
                             "in-a-cycle", "leaked", "module-global"], names
        \"\"\")
        assert counter.value == 0
        subinterp.destroy(interp)
        assert counter.value == 6, counter.value
    """, own=own)


@pytest.mark.parametrize("own", KINDS)
def test_python_release_runs_in_its_interpreter_at_its_end(own, run_isolated):
    in_fresh_process(run_isolated, """
        r, w = os.pipe()
        os.set_blocking(r, False)
        interp = subinterp.create({own})
        subinterp.run(interp, f\"\"\"
            import ctypes, functools, os, pybuf
            owner = pybuf.Owner(release=functools.partial(os.write, {w}, b"released"))
            buf = owner.buffer(ctypes.addressof(ctypes.c_int(7)), 4)
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(owner))
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(buf))
            del owner, buf
        \"\"\")
        with pytest.raises(BlockingIOError):
            os.read(r, 100)
        subinterp.destroy(interp)
        assert os.read(r, 100) == b"released"
    """, own=own)


def test_subinterpreter_destroyed_with_an_export_leaked(run_isolated):
    """An export nobody releases: its owner stays closed and unreleased, in nobody's live(),
    and the leak report at exit names it with its interpreter."""
    out, err = in_fresh_process(run_isolated, """
        import pybuf
        fn, counter, counter_addr = count_release()
        interp = subinterp.create(False)
        subinterp.run(interp, f\"\"\"
            import ctypes, pybuf
            data = (ctypes.c_ubyte * 8)()
            view = memoryview(pybuf.wrap(data, 8, release={fn}, arg={counter_addr},
                                         name="leaked-export"))
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(view))
        \"\"\")
        subinterp.destroy(interp)
        assert counter.value == 0
        assert pybuf.live() == []
        print("interp", interp)
    """, env={"PYBUF_REPORT_LEAKS": "1"})
    interp = out.split("interp ", 1)[1].split()[0]
    assert (f"  leaked-export (closed, 1 buffer, 1 export, 8 bytes, in subinterpreter {interp})\n"
            in err), err


PARALLEL_WORKER = """
import ctypes, struct, pybuf
data = (ctypes.c_uint32 * 16)()
fails = []
me = "interp-{n}"
for i in range({iters}):
    kind = i % 4
    if i % 101 == 0:  # the process-wide switch and registry, from every interpreter at once
        pybuf.trace(i % 202 == 0)
        keep = pybuf.Owner(name=me)
        others = [o.name for o in pybuf.live() if o.name != me]
        if others:
            fails.append(("live", i, others))
        del keep
    if kind == 0:    # wrap, memoryview export, context-managed close
        with pybuf.Owner(release={fn}, arg={counter}, name=me) as owner:
            buf = owner.buffer(data, 16, "I")
            m = memoryview(buf)
            m[i % 16] = i
            if struct.unpack_from("16I", buf)[i % 16] != i:
                fails.append(("struct", i))
            del m, buf
    elif kind == 1:  # wrap with ctypes from_buffer and a region
        buf = pybuf.wrap(data, 16, "I", release={fn}, arg={counter}, name=me)
        arr = (ctypes.c_uint32 * 4).from_buffer(buf.region(16, 4, "I"))
        arr[0] = i
        if data[4] != i:
            fails.append(("ctypes", i))
        del arr, buf
    elif kind == 2:  # strict close after the views are gone
        owner = pybuf.Owner(release={fn}, arg={counter}, name=me)
        m = memoryview(owner.buffer(data, 64)).cast("I")
        if m[0] != data[0]:
            fails.append(("cast", i))
        del m
        owner.close(strict=True)
        if not owner.released:
            fails.append(("strict", i))
    else:            # pybuf's own memory, and an owner dropped at once
        a = pybuf.alloc((8,), "d")
        memoryview(a).cast("B")[0] = 1
        del a
        pybuf.wrap(data, 4, release={fn}, arg={counter}, name=me)
        if i % 64 == 3:  # shared memory: the Go core maps, the shim unmaps
            seg = pybuf.shm.create(64)
            try:
                memoryview(seg.buffer(0, 64))[0] = 7
                other = pybuf.shm.attach(seg.name)
                if memoryview(other.buffer(0, 1))[0] != 7:
                    fails.append(("shm", i))
                other.close()
            finally:
                seg.close()
                seg.unlink()
pybuf.trace(False)
live_left = [o.name for o in pybuf.live()]
result = [fails, live_left]
"""


@own_gil
def test_own_gil_interpreters_in_parallel(run_isolated):
    """4 own-GIL interpreters, each on its own thread, create, export and release at once;
    every release runs exactly once, in its interpreter, and nothing shows in the main
    interpreter's live() meanwhile."""
    out, _ = in_fresh_process(run_isolated, """
        import pybuf
        fn = count_release()[0]
        counters = (ctypes.c_long * 4)()
        interps = [subinterp.create(True) for _ in range(4)]
        results, errors = [None] * 4, []
        start = threading.Barrier(5)

        def work(n):
            try:
                subinterp.run(interps[n], "import pybuf, ctypes, struct")
                start.wait()
                code = {worker}.format(iters={iters}, fn=fn, n=n,
                                       counter=ctypes.addressof(counters) + n * 8)
                results[n] = subinterp.run_json(interps[n], code)
            except BaseException as e:  # reported below, with the thread's number
                errors.append((n, e))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        start.wait()
        seen_in_main = []
        while any(t.is_alive() for t in threads):
            seen_in_main += [o.name for o in pybuf.live()]
            threads[0].join(0.01)
        for t in threads:
            t.join()
        for interp in interps:
            subinterp.destroy(interp)
        assert errors == [], errors
        assert results == [[[], []]] * 4, results
        assert seen_in_main == [], seen_in_main
        assert list(counters) == [{iters}] * 4, list(counters)  # one counted release each
        print(f"interpreters: 4 own-GIL x {iters} iterations, {sum(counters)} releases, "
              f"each exactly once")
    """, worker=PARALLEL_WORKER, iters=INTERP_ITERS)
    print("\n" + [line for line in out.splitlines() if line.startswith("interpreters:")][0])


@pytest.fixture(scope="module")
def consumer_lib(tmp_path_factory):
    """tests_py/clib/dlpack_consumer.c: a C DLPack consumer that frees on a thread of its own."""
    out = str(tmp_path_factory.mktemp("dlpack") / "libconsumer.so")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(tests_dir, "clib", "dlpack_consumer.c")
    dlpack_h_dir = os.path.join(os.path.dirname(tests_dir), "pybuf", "capi")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-I", dlpack_h_dir,
                    "-o", out, source, "-lpthread"], check=True, timeout=120)
    return out


@pytest.mark.parametrize("own", KINDS)
def test_dlpack_tensor_freed_on_a_foreign_thread(own, run_isolated, consumer_lib):
    """The deleter runs on a thread that never held a GIL: the export is given back in the
    subinterpreter that made it, whose Python release then runs there."""
    in_fresh_process(run_isolated, """
        interp = subinterp.create({own})
        got = subinterp.run_json(interp, f\"\"\"
            import ctypes, pybuf, threading
            lib = ctypes.CDLL({lib})
            for f in (lib.consumer_sum_int32, lib.consumer_delete_on_thread):
                f.argtypes = [ctypes.c_void_p]
            lib.consumer_sum_int32.restype = ctypes.c_longlong
            get = ctypes.pythonapi.PyCapsule_GetPointer
            get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            rename = ctypes.pythonapi.PyCapsule_SetName
            rename.argtypes = [ctypes.py_object, ctypes.c_char_p]
            released = []
            data = (ctypes.c_int32 * 4)(1, 2, 3, 4)
            owner = pybuf.Owner(release=lambda: released.append(1))
            buf = owner.buffer(data, 4, "i")
            cap = buf.__dlpack__(max_version=(1, 0))
            ptr = get(cap, b"dltensor_versioned")
            rename(cap, b"used_dltensor_versioned")
            owner.close()
            del buf, cap
            before = [owner.exports, released[:]]
            total = lib.consumer_sum_int32(ptr)
            rc = lib.consumer_delete_on_thread(ptr)
            result = [before, total, rc, owner.exports, released, owner.released]
        \"\"\")
        subinterp.destroy(interp)
        assert got == [[1, []], 10, 0, 0, [1], True], got
    """, own=own, lib=consumer_lib)


@pytest.mark.parametrize("own", KINDS)
def test_wrapper_cycles_alive_when_their_interpreter_ends(own, run_isolated):
    """The state machine's wrapper cycles (releases over the wrapper, ctypes callbacks,
    finalizers that resurrect or close), some garbage, some held by the interpreter's
    globals, when it is destroyed: each release runs exactly once, none crashes."""
    in_fresh_process(run_isolated, """
        import itertools
        combos = list(itertools.product(
            ["method", "lambda", "partial", "cfunctype", "c"],
            ["none", "buffer", "memoryview", "mv_slice", "ctypes", "picklebuffer"],
            ["none", "resurrects", "closes"]))
        counters = (ctypes.c_long * len(combos))()
        base, size = ctypes.addressof(counters), ctypes.sizeof(ctypes.c_long)
        fn = ctypes.cast(fake.lib.fake_count_arg, ctypes.c_void_p).value
        interp = subinterp.create({own})
        subinterp.run(interp, f\"\"\"
            import ctypes, functools, pickle, pybuf
            CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
            def bump(addr):
                ctypes.c_long.from_address(addr).value += 1
            KEPT = []
            class W:
                def release(self):
                    assert self.mem is not None       # the wrapper is whole
                    bump(self.counter)
                def __del__(self):
                    if self.fin == "resurrects" and not KEPT.count(self):
                        KEPT.append(self)
                    elif self.fin == "closes":
                        self.owner.close()
            held = []
            for i, (rel, holds, fin) in enumerate({combos!r}):
                w = W()
                w.counter, w.fin, w.mem = {base} + i * {size}, fin, (ctypes.c_ubyte * 16)()
                arg = None
                if rel == "method":
                    r = w.release
                elif rel == "lambda":
                    r = (lambda w: lambda: w.release())(w)
                elif rel == "partial":
                    r = functools.partial(bump, w.counter)
                elif rel == "cfunctype":
                    w.cb = CB((lambda w: lambda p: w.release())(w))
                    r = w.cb
                else:
                    r, arg = {fn}, w.counter
                w.owner = pybuf.Owner(release=r, arg=arg)
                if holds != "none":
                    w.buf = w.owner.buffer(w.mem, 16)
                if holds == "memoryview":
                    w.view = memoryview(w.buf)
                elif holds == "mv_slice":
                    w.view = memoryview(w.buf)[2:]
                elif holds == "ctypes":
                    w.view = (ctypes.c_ubyte * 16).from_buffer(w.buf)
                elif holds == "picklebuffer":
                    w.view = pickle.PickleBuffer(w.buf)
                w.me = w
                if i % 2:
                    held.append(w)
            del w
            import gc
            gc.collect()        # some armed, some resurrected, none released yet twice
        \"\"\")
        subinterp.destroy(interp)
        assert list(counters) == [1] * len(combos), [
            (c, n) for c, n in zip(combos, counters) if n != 1]
    """, own=own)


@own_gil
def test_memoryview_sent_to_another_interpreter_releases_in_its_own(run_isolated):
    """A memoryview of a subinterpreter's buffer, sent through a channel (CPython 3.13 shares
    the export): the main interpreter reads it, drops it, and the owner's Python release runs
    in the subinterpreter that made it."""
    in_fresh_process(run_isolated, """
        import _interpchannels
        channel = _interpchannels.create(2)
        interp = subinterp.create(True)
        subinterp.run(interp, f\"\"\"
            import _interpchannels, _interpreters, pybuf
            ran_in = []
            owner = pybuf.Owner(release=lambda: ran_in.append(_interpreters.get_current()[0]))
            data = pybuf.alloc(8, name="data")
            memoryview(data)[0] = 42
            buf = owner.buffer(data.address, 8)
            _interpchannels.send({channel}, memoryview(buf), blocking=False)
            owner.close()
            del buf
            assert ran_in == [] and owner.exports == 1
        \"\"\")
        view, _ = _interpchannels.recv(channel)
        assert bytes(view) == b"*" + bytes(7)
        del view
        got = subinterp.run_json(interp, \"\"\"
            result = [ran_in, owner.exports, owner.released, [o.name for o in pybuf.live()]]
        \"\"\")
        assert got == [[interp], 0, True, ["data"]], (got, interp)
        subinterp.destroy(interp)
    """)


@own_gil
def test_memoryview_sent_to_another_interpreter_releases_there_while_it_runs(run_isolated):
    """The same, with a thread of the owning interpreter running when main drops the view:
    the release is a pending call that thread runs. On free-threaded CPython 3.13 this is
    the only way the call is signalled (the test above is skipped there: see
    free_threaded.PENDING_CALL)."""
    in_fresh_process(run_isolated, """
        import _interpchannels
        channel = _interpchannels.create(2)
        interp = subinterp.create(True)
        subinterp.run(interp, f\"\"\"
            import _interpchannels, _interpreters, pybuf, threading, time
            ran_in = []
            owner = pybuf.Owner(release=lambda: ran_in.append(_interpreters.get_current()[0]))
            data = pybuf.alloc(8, name="data")
            memoryview(data)[0] = 42
            buf = owner.buffer(data.address, 8)
            _interpchannels.send({channel}, memoryview(buf), blocking=False)
            owner.close()
            del buf
            assert ran_in == [] and owner.exports == 1
            def wait():
                deadline = time.monotonic() + 60
                while owner.exports and time.monotonic() < deadline:
                    time.sleep(0.001)
            waiter = threading.Thread(target=wait)
            waiter.start()
        \"\"\")
        view, _ = _interpchannels.recv(channel)
        assert bytes(view) == b"*" + bytes(7)
        del view
        got = subinterp.run_json(interp, \"\"\"
            waiter.join()
            result = [ran_in, owner.exports, owner.released, [o.name for o in pybuf.live()]]
        \"\"\")
        assert got == [[interp], 0, True, ["data"]], (got, interp)
        subinterp.destroy(interp)
    """)

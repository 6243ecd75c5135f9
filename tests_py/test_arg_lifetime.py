"""`arg` lives until the release has run, whatever it is (docs/API.md, "Owner(release=, arg=)").

Every kind of `arg` x every kind of release x every way an owner ends: the binding drops
its references and then the last view dies, a garbage cycle is collected, close(), process
exit (in a subprocess, freed memory poisoned), a creator thread, a subinterpreter's end,
and a constructor that fails after it read `arg`.

The C release (tests_py/clib/fakelib.c, fake_token_release) finds a token, a magic value
and an id, in the memory its argument points to, counts the id and marks the token
released: a release on freed or reused memory, or a second release, counts as bad instead
of passing by luck. A weakref finalizer on the object that owns the token's memory records
how many releases had run when that object died, so an `arg` freed before its release
fails even where freed memory still reads right. A Go handle (cgo.Handle) reaches Python
as an int: the `int` kind; `index` is a handle object with __index__.
"""
import ast
import ctypes
import gc
import threading
import weakref

import pytest

import pybuf
import subinterp
import free_threaded
from arg_kinds import (ARG_KINDS, C_RELEASES, SPARE_ADDR, Wrapper, make_case, next_id,
                       release_for)
from fakehelp import TESTS_DIR, describe


@pytest.fixture
def c_release(request, fake):
    return release_for(fake, request.param)


# --- a C release: the arg is held until it has run, and dropped right after ------------

@pytest.mark.parametrize("c_release", C_RELEASES, indirect=True)
@pytest.mark.parametrize("kind", ARG_KINDS)
def test_binding_drops_arg_then_last_view_dies(fake, kind, c_release):
    case = make_case(fake, kind)
    owner = pybuf.Owner(release=c_release, arg=case.take(), name=f"drop-{kind}")
    view = memoryview(owner.buffer(SPARE_ADDR, 8))
    del owner
    gc.collect()
    assert case.held() and case.releases() == 0
    del view
    case.assert_released_once_on_live_memory()


@pytest.mark.parametrize("c_release", C_RELEASES, indirect=True)
@pytest.mark.parametrize("kind", ARG_KINDS)
def test_garbage_cycle_through_owner_and_arg(fake, kind, c_release):
    """The wrapper, its owner, a buffer and an export in a cycle; where the arg can
    carry an attribute, the cycle also runs through the arg back to the wrapper."""
    case = make_case(fake, kind)
    w = Wrapper()
    w.me = w
    w.owner = pybuf.Owner(release=c_release, arg=case.take(), name=f"cycle-{kind}")
    w.buf = w.owner.buffer(SPARE_ADDR, 8)
    w.view = memoryview(w.buf)
    if case.link is not None:
        case.link.wrapper = w
    wid = id(w)
    del w
    assert case.held() and case.releases() == 0
    for _ in range(3):      # the first collection arms, the next one releases
        gc.collect()
    assert not any(id(x) == wid and type(x) is Wrapper for x in gc.get_objects()), "leaked"
    case.assert_released_once_on_intact_memory()


@pytest.mark.parametrize("c_release", C_RELEASES, indirect=True)
@pytest.mark.parametrize("kind", ARG_KINDS)
def test_close_releases_and_drops_arg(fake, kind, c_release):
    case = make_case(fake, kind)
    owner = pybuf.Owner(release=c_release, arg=case.take(), name=f"close-{kind}")
    gc.collect()
    assert case.held()
    owner.close()
    case.assert_released_once_on_live_memory()
    assert owner.released


@pytest.mark.parametrize("c_release", C_RELEASES, indirect=True)
@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_pointer", "int"])
def test_close_with_a_view_holds_arg_until_the_view_dies(fake, kind, c_release):
    case = make_case(fake, kind)
    owner = pybuf.Owner(release=c_release, arg=case.take(), name=f"close-view-{kind}")
    view = memoryview(owner.buffer(SPARE_ADDR, 8))
    owner.close()
    gc.collect()
    assert case.held() and case.releases() == 0
    del view
    case.assert_released_once_on_live_memory()


@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_pointer", "ctypes_byref", "int"])
def test_wrap_holds_arg_like_owner(fake, kind):
    case = make_case(fake, kind)
    buf = pybuf.wrap(SPARE_ADDR, 8, release=fake.lib.fake_token_release, arg=case.take())
    gc.collect()
    assert case.held() and case.releases() == 0
    del buf
    case.assert_released_once_on_live_memory()


@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_array", "index"])
def test_the_collector_sees_the_arg(fake, kind):
    """Owner's tp_traverse visits the arg while it holds it: a cycle through it is
    garbage like any other (the cycle tests need it), and nothing is visited after."""
    case = make_case(fake, kind)
    arg = case.take()
    owner = pybuf.Owner(release=fake.lib.fake_token_release, arg=arg)
    assert any(r is arg for r in gc.get_referents(owner))
    owner.close()
    assert not any(r is arg for r in gc.get_referents(owner))


def test_arg_is_the_owner_itself(fake):
    """An Owner subclass whose __index__ is the token's address, given as its own arg:
    the owner holds itself. Collected, released once on a live token, and freed."""
    class SelfArg(pybuf.Owner):
        def __index__(self):
            return self.token

    tid = next_id()
    bad = fake.lib.fake_token_bad()
    o = SelfArg.__new__(SelfArg)
    o.token = fake.lib.fake_token_new(tid)
    o.__init__(release=fake.lib.fake_token_release, arg=o, name="self-arg")
    del o
    gc.collect()
    assert fake.lib.fake_token_releases(tid) == 0   # armed: released by the next one
    for _ in range(3):
        gc.collect()
    assert fake.lib.fake_token_releases(tid) == 1
    assert fake.lib.fake_token_bad() == bad
    assert not any(type(x) is SelfArg for x in gc.get_objects())


def test_arg_that_holds_its_owner_is_no_leak(fake):
    """arg -> struct -> owner -> arg, with the collector off: when the last view of the
    closed owner dies the release runs and drops the arg, which breaks the cycle, and
    refcounting frees the owner."""
    case = make_case(fake, "ctypes_pointer")
    owner = pybuf.Owner(release=fake.lib.fake_token_release, arg=case.take())
    view = memoryview(owner.buffer(SPARE_ADDR, 8))
    case.link.owner_box = [owner]
    oref = weakref.ref(owner)
    owner.close()
    del owner
    gc.disable()
    try:
        del view
        assert oref() is None
        case.assert_released_once_on_live_memory()
    finally:
        gc.enable()


# --- creator thread, failed constructors, exit, subinterpreters ---------------------

@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_pointer", "cffi_buffer"])
def test_creator_thread_holds_arg_while_the_release_is_queued(fake, kind):
    case = make_case(fake, kind)
    made, dropped, done = threading.Event(), threading.Event(), threading.Event()
    box = []
    seen = {}

    def creator():
        box.append(pybuf.Owner(release=fake.lib.fake_token_release, arg=case.take(),
                               release_thread="creator", name=f"creator-{kind}"))
        made.set()
        dropped.wait(30)
        seen["queued"] = (case.held(), case.releases())
        pybuf.run_pending()
        done.set()

    t = threading.Thread(target=creator)
    t.start()
    assert made.wait(30)
    # The last Buffer is made and dies here, so the release is due here and is queued for
    # the creator thread. (Not the owner dropped here: free-threaded CPython deallocates an
    # object on the thread that made it when another thread drops its last reference.)
    buf = box[0].buffer(SPARE_ADDR, 8)
    box[0].close()
    box.clear()
    del buf                             # released here: queued for the creator thread
    gc.collect()
    dropped.set()
    assert done.wait(30)
    t.join()
    assert seen["queued"] == (True, 0)
    case.assert_released_once_on_live_memory()


@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_pointer", "ctypes_byref", "int",
                                  "cffi_from_buffer", "index"])
def test_failed_constructor_drops_arg_and_never_releases(fake, kind):
    """The arg was read (and taken) before the layout failed: it goes back, unreleased."""
    case = make_case(fake, kind)
    with pytest.raises(ValueError):
        pybuf.wrap(SPARE_ADDR, -1, release=fake.lib.fake_token_release, arg=case.take())
    gc.collect()
    assert case.releases() == 0
    assert case.dropped()


@pytest.mark.parametrize("kind", ["cffi_new", "ctypes_pointer", "int"])
def test_owner_refused_release_thread_drops_arg(fake, kind):
    case = make_case(fake, kind)
    with pytest.raises(ValueError, match="release_thread"):
        pybuf.Owner(release=fake.lib.fake_token_release, arg=case.take(),
                    release_thread="nobody")
    gc.collect()
    assert case.releases() == 0
    assert case.dropped()


# --- no C release: an arg is refused, and not kept --------------------------------

@pytest.mark.parametrize("release", ["python", "none"])
@pytest.mark.parametrize("kind", [k for k in ARG_KINDS if k != "none"])
def test_arg_without_a_c_release_is_refused_and_not_kept(fake, kind, release):
    case = make_case(fake, kind)
    rel = (lambda: None) if release == "python" else None
    with pytest.raises(TypeError, match="arg"):
        pybuf.Owner(release=rel, arg=case.take())
    gc.collect()
    assert case.dropped()
    assert case.releases() == 0


@pytest.mark.parametrize("end", ["drop", "cycle", "close"])
def test_python_release_with_no_arg_runs_once(calls, end):
    owner = pybuf.Owner(release=calls, arg=None)
    if end == "close":
        owner.close()
    elif end == "cycle":
        w = Wrapper()
        w.me, w.owner = w, owner
        w.view = memoryview(owner.buffer(SPARE_ADDR, 8))
        del w, owner
        for _ in range(3):
            gc.collect()
    else:
        view = memoryview(owner.buffer(SPARE_ADDR, 8))
        del owner
        del view
    assert calls.calls == 1


# --- process exit: freed memory poisoned -------------------------------------------

EXIT_SCRIPT = """
import ctypes, gc, sys, weakref
sys.path.insert(0, {tests_dir!r})
import pybuf
import arg_kinds as t
from fakehelp import load_fake
fake = load_fake()
release = t.release_for(fake, {release!r})
ids = {{}}
held = []                       # module globals: views alive until the interpreter clears them
gc.disable()                    # the cycles stay garbage until exit
for kind in t.USABLE_ARG_KINDS:
    for end in ("view", "cycle"):
        case = t.make_case(fake, kind)
        ids[f"{{kind}}-{{end}}"] = case.tid
        owner = pybuf.Owner(release=release, arg=case.take(), name=f"{{kind}}-{{end}}")
        if end == "view":
            held.append(memoryview(owner.buffer(t.SPARE_ADDR, 8)))
        else:
            w = t.Wrapper()
            w.me, w.owner = w, owner
            w.buf = owner.buffer(t.SPARE_ADDR, 8)
            w.view = memoryview(w.buf)
            if case.link is not None:
                case.link.wrapper = w
            del w
        del owner, case
print(repr(ids), flush=True)
"""


@pytest.mark.parametrize("release", C_RELEASES)
def test_exit_releases_each_arg_once_on_live_memory(run_isolated, release):
    """Views in module globals and uncollected cycles at exit, every kind of arg, freed
    memory filled with 0xA5 (PYTHONMALLOC=malloc, MALLOC_PERTURB_): the library reports
    after Python's finalization which tokens it released and how many bad calls came."""
    code = EXIT_SCRIPT.format(tests_dir=TESTS_DIR, release=release)
    rc, out, err = run_isolated(code, prelude=False, env={
        **free_threaded.POISONED_FREES, "FAKE_TOKEN_REPORT": "1"})
    assert rc == 0, describe(rc, out, err)
    ids = ast.literal_eval(out.strip().splitlines()[-1])
    report = [ln for ln in err.splitlines() if ln.startswith("fake tokens:")]
    assert len(report) == 1, describe(rc, out, err)
    words = report[0].split()
    released = [int(x) for x in words[3:words.index("bad")]]
    assert words[words.index("bad") + 1] == "0", report[0]
    assert words[words.index("null") + 1] == "2", report[0]      # the two None args
    for name, tid in ids.items():
        if tid is not None:
            assert released.count(tid) == 1, f"{name}: released {released.count(tid)} times"


SUBINTERP_SCRIPT = """
import ctypes, sys
sys.path.insert(0, {tests_dir!r})
import subinterp
from fakehelp import load_fake
fake = load_fake()
fn = ctypes.cast(fake.lib.fake_token_release, ctypes.c_void_p).value
interp = subinterp.create({own})
subinterp.run(interp, f'''
import ctypes, gc, sys
sys.path.insert(0, {tests_dir!r})
import pybuf
from fakehelp import load_fake
import arg_kinds as t
fake = load_fake()
def owner(kind, name):
    case = t.make_case(fake, kind)
    return case.tid, pybuf.Owner(release={{fn}}, arg=case.take(), name=name)
ids = []
tid, o = owner("ctypes_pointer", "module-global view")
held = memoryview(o.buffer(t.SPARE_ADDR, 8)); ids.append(tid); del o
tid, o = owner("ctypes_array", "leaked")
ctypes.pythonapi.Py_IncRef(ctypes.py_object(o)); ids.append(tid); del o
tid, o = owner("index", "in a cycle")
w = t.Wrapper(); w.me, w.owner = w, o; w.view = memoryview(o.buffer(t.SPARE_ADDR, 8))
ids.append(tid); del o, w
gc.disable()
assert [fake.lib.fake_token_releases(i) for i in ids] == [0, 0, 0]
open({{sys.argv[1]!r}}, "w").write(repr(ids))
''')
subinterp.destroy(interp)
ids = eval(open(sys.argv[1]).read())
assert [fake.lib.fake_token_releases(i) for i in ids] == [1, 1, 1], ids
assert fake.lib.fake_token_bad() == 0
print("ok")
"""


@pytest.mark.skipif(not subinterp.SUBINTERPRETERS,
                    reason="CPython < 3.12 has no subinterpreters for extensions")
@pytest.mark.parametrize("own", [pytest.param(False, id="shared-gil"),
                                 pytest.param(True, id="own-gil", marks=pytest.mark.skipif(
                                     not subinterp.OWN_GIL, reason="ctypes in own-GIL: 3.13"))])
def test_subinterpreter_end_releases_with_arg_alive(run_isolated, tmp_path, own):
    code = SUBINTERP_SCRIPT.format(tests_dir=TESTS_DIR, own=own)
    rc, out, err = run_isolated(code, prelude=False, args=(str(tmp_path / "ids"),),
                                env=free_threaded.POISONED_FREES)
    assert rc == 0 and out.strip().endswith("ok"), describe(rc, out, err)

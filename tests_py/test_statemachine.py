"""A stateful model of the lifetime rules, driven by hypothesis over the guard-page library.

Rules create owners (C release, Python release, owners inside garbage cycles, wrap()),
buffers and read-only sub-buffers, export them through every consumer kind, derive views,
write, drop references in any order, close, strict-close and collect. After every step the
real objects are compared with a plain-Python model: destroy counts first (so that a
premature release is reported as a failure instead of touching a PROT_NONE page), then
`released`/`closed`/`buffers`/`exports`, `pybuf.live()`, and finally the values every
live view reads.

Tree rules make child owners (Owner(parent=)) of owners the test holds, close parents
and children in any order (close() closes a subtree, strict close names the children
that hold memory) and invalidate them; after every step no parent's release may have run
before all of its children's (destroy counts, and the order Python releases ran in), and
pybuf.live() names each child's parent.

Hostile rules (hostile.py) run among them: owners whose release raises, calls sys.exit,
collects, re-enters pybuf or closes every owner the test holds (the model follows);
owners whose ctypes or cffi `arg` the caller dropped at once (it must live until the
release); buffer/region/wrap/alloc with shapes, strides, offsets and dtypes that raise,
lie, overflow or mutate their list (a Python exception or a buffer that reads what its
layout says); from_buffer over exporters resized, closed or released while wrapped. Only
hostile hooks' own exceptions may reach sys.unraisablehook.

Bounded in `make test` (PYBUF_SM_EXAMPLES, default 500, derandomized so a planted fault
is caught reproducibly: test_faults.py); `python tests_py/test_statemachine.py
--examples N` is the long random run of `make stress` (stress.py runs it in fresh
processes, so that a crash is counted, not fatal: --progress says where it died).
"""
import ctypes
import functools
import gc
import itertools
import os
import random
import struct
import sys
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, Phase, settings, strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,  # noqa: E402
                                 rule, run_state_machine_as_test)

import pybuf  # noqa: E402
from arg_kinds import make_arg  # noqa: E402
from free_threaded import usable_kinds  # noqa: E402
from cycle_parts import CallableRelease, hold  # noqa: E402
from fakehelp import ENV_LIB, compile_fakelib, load_dlpack_consumer, load_fake, take  # noqa: E402
import hostile  # noqa: E402
from hostile import HUGE_ALLOC, hostile_exception  # noqa: E402

N = 16                      # int32 per fake handle
MAX_OWNERS = 4
MAX_BUFFERS = 8
MAX_VIEWS = 12
PREFIX = "sm-owner-"
EXPORT_KINDS = ["asarray", "array", "array_copy", "frombuffer", "ndarray_buffer",
                "memoryview", "ctypes", "dlpack"]
DERIVE_KINDS = ["np_slice", "np_step", "np_view", "np_reversed", "mv_slice", "mv_cast",
                "asarray_of_mv"]
I32 = st.integers(-2 ** 31, 2 ** 31 - 1)
RELEASE_STYLES = ["method", "lambda", "callable_del", "partial_handle", "cfunc", "cfunctype"]
HANDLE_ONLY = {"partial_handle", "cfunc"}
INVISIBLE_HOLDERS = {"ndarray", "ndarray_buffer", "dlpack_capsule"}
CYCLE_HOLDS = ["none", "buffer", "memoryview", "mv_slice", "ndarray", "ndarray_buffer",
               "ctypes", "dlpack_capsule", "picklebuffer"]
FINALIZERS = ["none", "reads", "keeps_ndarray", "resurrects", "closes", "closes_strict"]
# args that own the memory their C release reads (arg_kinds.py); the cffi ones only where
# cffi can be had (free-threaded CPython has no cffi wheel)
OWNING_ARGS = usable_kinds(["cffi_new", "cffi_buffer", "cffi_from_buffer", "ctypes_pointer",
                            "ctypes_byref", "ctypes_array"])
CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
TREE_KINDS = ("c", "py", "child")   # owners that may have children (Owner(parent=))
_names = itertools.count()
EXAMPLES_RUN = [0]          # machines constructed in this process (one per example)
STEPS_RUN = [0]             # invariant checks, i.e. steps (plus one per example)
HOSTILE_RUN = {}            # rule name -> steps that drew hostile objects (hostile.py)
TREE_RUN = {}               # tree steps: children made, invalidations, closes of parents
PROGRESS = []               # --progress FILE: examples and steps so far, rewritten per example
WITHOUT = set()             # --without RULE: rules left out of a measurement run

_fake = None
FIRST_FAILURE = []          # the first assertion that failed, whatever hypothesis replays


def recorded(f):
    """Remembers the first failure: a fault that depends on global state (every 7th export)
    can fail differently on hypothesis's replay, which then reports only "Flaky"."""
    @functools.wraps(f)
    def step(self, **kw):
        try:
            return f(self, **kw)
        except Exception as e:
            if not FIRST_FAILURE:
                FIRST_FAILURE.append(f"{f.__name__}: {type(e).__name__}: {e}"[:3000])
            raise
    return step


def fake():
    global _fake
    if _fake is None:
        if ENV_LIB not in os.environ:   # run as a script: no conftest
            import tempfile
            os.environ[ENV_LIB] = compile_fakelib(tempfile.mkdtemp(prefix="pybuf-sm-"))
        # Counting, not aborting, on a double destroy: the model reports it.
        _fake = load_fake(strict=False)
    return _fake


_consumer = []              # [lib, its TemporaryDirectory]


def consumer():
    """The C DLPack consumer, built once per process."""
    if not _consumer:
        import tempfile
        d = tempfile.TemporaryDirectory(prefix="pybuf-sm-consumer-")
        _consumer.extend([load_dlpack_consumer(d.name), d])
    return _consumer[0]


class MOwner:
    def __init__(self, handle, kind):
        self.name = PREFIX + str(next(_names))
        self.h = handle
        self.kind = kind            # "c", "py", "cycle", "cycle_view(_py)", "wrap",
                                    # "hostile", "arg"
        self.obj = None             # strong reference held by the test (or the wrapper)
        self.wrapper = None         # cycles: the object the test holds
        self.ref = None             # weakref to the Owner
        self.calls = None           # Python releases: a list counting calls
        self.values = list(range(N))
        self.closed = False
        self.released = False
        self.cycle_buffers = 0      # buffers/exports kept inside a cycle
        self.cycle_exports = 0
        self.collected = False      # its garbage cycle was collected
        self.mode = None            # "hostile": what its release does after its job
        self.probe = None           # "arg": a weak reference to the memory its arg points at
        self.parent = None          # "child": the model owner it was made a child of
        self.children = []          # model owners made its children

    @property
    def in_cycle(self):
        return self.kind.startswith("cycle")

    def user_holds(self):
        return self.obj is not None or self.wrapper is not None


class MBuffer:
    def __init__(self, owner, obj, start, n, readonly):
        self.owner, self.obj, self.start, self.n, self.readonly = owner, obj, start, n, readonly
        self.ref = weakref.ref(obj)


class MView:
    def __init__(self, buf, obj, idx, writable, exports, parent=None, read=None):
        self.buf, self.obj, self.idx = buf, obj, idx
        self.writable, self.exports, self.parent = writable, exports, parent
        self.children = []
        self._read = read or (lambda o: [int(x) for x in o])
        if parent is not None:
            parent.children.append(self)

    def alive(self):
        return self.obj is not None or any(c.alive() for c in self.children)

    def read(self):
        # unsigned views (a.view(np.uint32)) read the same bits as int32
        return [(x + 2 ** 31) % 2 ** 32 - 2 ** 31 for x in self._read(self.obj)]

    def write(self, pos, value):
        o = self.obj
        kind = o.dtype.kind if isinstance(o, np.ndarray) else getattr(o, "format", "i")[-1:]
        o[pos] = value % 2 ** 32 if kind in ("u", "I") else value


def np_read(a):
    return [int(x) for x in a.tolist()]


class PybufMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        EXAMPLES_RUN[0] += 1
        if PROGRESS:    # what a crash leaves behind: the example it happened in
            with open(PROGRESS[0], "w") as f:
                f.write(f"{EXAMPLES_RUN[0]} {STEPS_RUN[0]} {sum(HOSTILE_RUN.values())}\n")
        self.fake = fake()
        self.owners, self.buffers, self.views = [], [], []
        self.unraisable = []
        self.hostile_raised = 0     # hostile releases' exceptions that reached close()
        self.hostile_reported = 0   # other hostile hooks' exceptions due at the unraisablehook
        self.kept = []              # (array, model owner): np.ndarray(buffer=) kept by a __del__
        self.resurrected = []       # wrappers a __del__ stored
        self.arg_freed_early = []   # owners whose arg's memory died before their release
        self.release_log = []       # names of "py" and "child" owners, as their releases ran
        self.token_bad = self.fake.lib.fake_token_bad()
        self._hook = sys.unraisablehook
        sys.unraisablehook = lambda u: self.unraisable.append(u)
        # Refcounting frees everything at once; cycles wait for the `collect` rule, so the
        # model knows exactly when each release is due. Freezing what exists already makes
        # each collection look at this example's objects only (milliseconds saved per step).
        gc.disable()
        gc.freeze()

    # --- the model ---------------------------------------------------------------

    def buffer_alive(self, b):
        return b.obj is not None or any(v.buf is b and v.alive() for v in self.views)

    def alive_buffers(self, o):
        n = sum(1 for b in self.buffers if b.owner is o and self.buffer_alive(b))
        return n + (0 if o.collected else o.cycle_buffers)

    def exports_of(self, b):
        return sum(v.exports for v in self.views if v.buf is b and v.alive())

    def owner_exports(self, o):
        n = sum(self.exports_of(b) for b in self.buffers if b.owner is o)
        return n + (0 if o.collected else o.cycle_exports)

    def settle(self):
        """Apply the release rules that refcounting triggers at once, until nothing
        changes: a hostile release may close other owners or collect garbage."""
        changed = True
        while changed:
            changed = False
            for o in self.owners:
                if o.released or (o.kind == "cycle" and not o.closed) or o.kind == "gcycle":
                    continue    # garbage in a cycle through its release: only `collect` frees it
                external = sum(1 for b in self.buffers if b.owner is o and self.buffer_alive(b))
                internal = 0 if o.collected else o.cycle_buffers
                # an unreleased child holds its parent, and the parent's release waits for it
                waits = any(not c.released for c in o.children)
                if external + internal == 0 and (o.closed or not o.user_holds()) and not waits:
                    o.released = changed = True
                    self.hostile_release_effects(o)
        self.views = [v for v in self.views if v.alive()]
        self.buffers = [b for b in self.buffers if self.buffer_alive(b)]

    def hostile_release_effects(self, o):
        """What a hostile release did after its job (hostile.HostileRelease)."""
        if o.mode == "closes_others":
            for x in self.closed_by_release(o):
                if not x.released:
                    self.model_close(x)
        elif o.mode == "collect":
            self.collect_model()

    def closed_by_release(self, o):
        """The owners a closes_others release closes: those the test holds, as the model
        knows them when the release runs."""
        return [x for x in self.held_owners() if x is not o]

    def model_close(self, o):
        """close() closes the owner and its unreleased descendants (their memory is its)."""
        o.closed = True
        for c in o.children:
            if not c.released:
                self.model_close(c)

    def descendants(self, o):
        return [d for c in o.children for d in [c] + self.descendants(c)]

    def subtree_holds(self, o):
        """Whether an unreleased descendant still has a live buffer (strict close refuses)."""
        return any(not d.released and self.alive_buffers(d) for d in self.descendants(o))

    def tree_parents(self):
        return [o for o in self.held_owners()
                if o.kind in TREE_KINDS and not o.closed and not o.released]

    def held_owners(self):
        return [o for o in self.owners if o.obj is not None and not o.in_cycle
                or o.in_cycle and o.wrapper is not None]

    def owner_obj(self, o):
        return o.obj if o.obj is not None else o.wrapper.owner

    # --- rules: owners -------------------------------------------------------------

    @precondition(lambda self: len([o for o in self.owners if not o.released]) < MAX_OWNERS)
    @rule(kind=st.sampled_from(["c", "py", "cycle", "cycle_view", "cycle_view_py", "wrap"]),
          readonly=st.booleans())
    @recorded
    def new_owner(self, kind, readonly):
        h = self.fake.create_ints(N)
        o = MOwner(h, kind)
        lib = self.fake.lib
        if kind == "c":
            o.obj = pybuf.Owner(release=lib.fake_destroy, arg=h.h, name=o.name)
        elif kind == "py":
            o.calls = calls = []
            log, name = self.release_log, o.name
            o.obj = pybuf.Owner(release=lambda: (calls.append(1), log.append(name),
                                                 lib.fake_destroy(h.h)),
                                name=o.name)
        elif kind == "wrap":
            b = pybuf.wrap(h.ptr, N, "i", release=lib.fake_destroy, arg=h.h, name=o.name,
                           readonly=readonly)
            self.buffers.append(MBuffer(o, b, 0, N, readonly))
            o.ref = weakref.ref(b.owner)
        else:
            o.calls = calls = []
            o.wrapper = w = Wrapper()
            if kind == "cycle":
                # A release that needs its wrapper: runs in the finalizer, cycle intact.
                w.handle, w.calls, w.destroy = h.h, calls, lib.fake_destroy
                w.owner = pybuf.Owner(release=w.release, name=o.name)
            else:
                # The cycle also holds a buffer and a memoryview: the release runs when the
                # collector clears the view, so it holds the handle, not the wrapper (as the
                # docs say): the C function, or a Python closure over the handle only.
                if kind == "cycle_view":
                    o.calls = None
                    w.owner = pybuf.Owner(release=lib.fake_destroy, arg=h.h, name=o.name)
                else:
                    hh = h.h
                    w.owner = pybuf.Owner(release=lambda: (calls.append(1), lib.fake_destroy(hh)),
                                          name=o.name)
                w.buf = w.owner.buffer(h.ptr, N, "i")
                w.view = memoryview(w.buf)
                o.cycle_buffers, o.cycle_exports = 1, 1
            w.me = w
        if o.ref is None:
            o.ref = weakref.ref(self.owner_obj(o))
        self.owners.append(o)

    @precondition(lambda self: len([o for o in self.owners if not o.released]) < MAX_OWNERS)
    @rule(kind=st.sampled_from(OWNING_ARGS), wrap=st.booleans())
    @recorded
    def new_owner_arg_dropped(self, kind, wrap):
        """A C release whose arg owns the memory the release reads (a cffi or ctypes
        object holding a token with the handle), dropped by the caller at once: the owner
        holds it until the release, which finds the token live or counts a bad call."""
        h = self.fake.create_ints(N)
        o = MOwner(h, "wrap" if wrap else "c")
        o.name += f"-arg-{kind}"
        arg, memory, _ = make_arg(self.fake, kind, h.h)
        weakref.finalize(memory, self.arg_memory_died, o)
        release = self.fake.lib.fake_destroy_token
        if wrap:
            b = pybuf.wrap(h.ptr, N, "i", release=release, arg=arg, name=o.name)
            self.buffers.append(MBuffer(o, b, 0, N, False))
            o.ref = weakref.ref(b.owner)
        else:
            o.obj = pybuf.Owner(release=release, arg=arg, name=o.name)
            o.ref = weakref.ref(o.obj)
        self.owners.append(o)

    def arg_memory_died(self, o):
        if o.h.destroys == 0:
            self.arg_freed_early.append(o.name)

    def pick(self, seq, i):
        return seq[i % len(seq)] if seq else None

    @precondition(lambda self: self.held_owners() and len(self.buffers) < MAX_BUFFERS)
    @rule(i=st.integers(0, 99), start=st.integers(0, N - 1), n=st.integers(1, N),
          readonly=st.booleans())
    @recorded
    def new_buffer(self, i, start, n, readonly):
        o = self.pick(self.held_owners(), i)
        n = min(n, N - start)
        owner = self.owner_obj(o)
        if o.closed or o.released:
            try:
                owner.buffer(o.h.ptr + 4 * start, n, "i", readonly=readonly)
            except BufferError:
                return
            raise AssertionError("a closed owner handed out a buffer")
        b = owner.buffer(o.h.ptr + 4 * start, n, "i", readonly=readonly)
        self.buffers.append(MBuffer(o, b, start, n, readonly))

    @precondition(lambda self: any(b.obj is not None for b in self.buffers)
                  and len(self.buffers) < MAX_BUFFERS)
    @rule(i=st.integers(0, 99), start=st.integers(0, N - 1), n=st.integers(1, N),
          readonly=st.sampled_from([None, True, False]))
    @recorded
    def region(self, i, start, n, readonly):
        p = self.pick([b for b in self.buffers if b.obj is not None], i)
        start = start % p.n
        n = min(n, p.n - start)
        closed = p.owner.closed or p.owner.released
        try:
            r = p.obj.region(4 * start, n, "i", readonly=readonly)
        except BufferError:
            assert closed or (p.readonly and readonly is False)
            return
        assert not closed, "a closed owner's buffer made a region"
        assert not (p.readonly and readonly is False)
        ro = p.readonly if readonly is None else readonly
        assert r.readonly == ro
        self.buffers.append(MBuffer(p.owner, r, p.start + start, n, ro))

    # --- rules: exports and derived views -------------------------------------------

    @precondition(lambda self: any(b.obj is not None for b in self.buffers)
                  and len(self.views) < MAX_VIEWS)
    @rule(i=st.integers(0, 99), kind=st.sampled_from(EXPORT_KINDS))
    @recorded
    def export(self, i, kind):
        b = self.pick([b for b in self.buffers if b.obj is not None], i)
        closed = b.owner.closed or b.owner.released
        idx = list(range(b.start, b.start + b.n))
        try:
            v = self._export(b, kind, idx)
        except BufferError:
            assert closed, f"{kind}: BufferError on an open owner"
            return
        except TypeError:
            assert kind == "ctypes" and b.readonly, f"{kind}: unexpected TypeError"
            return
        assert not closed, f"{kind} exported a closed buffer"
        if v is not None:
            self.views.append(v)

    def _export(self, b, kind, idx):
        obj, w = b.obj, not b.readonly
        if kind == "asarray":
            return MView(b, np.asarray(obj), idx, w, 1, read=np_read)
        if kind == "array":
            return MView(b, np.array(obj, copy=False), idx, w, 1, read=np_read)
        if kind == "frombuffer":
            return MView(b, np.frombuffer(obj, np.int32), idx, w, 1, read=np_read)
        if kind == "ndarray_buffer":    # holds the Buffer, takes no export
            return MView(b, np.ndarray((b.n,), np.int32, buffer=obj), idx, w, 0, read=np_read)
        if kind == "memoryview":
            return MView(b, memoryview(obj), idx, w, 1, read=lambda m: m.tolist())
        if kind == "ctypes":
            return MView(b, (ctypes.c_int32 * b.n).from_buffer(obj), idx, True, 1,
                         read=lambda c: list(c))
        if kind == "dlpack":
            return MView(b, np.from_dlpack(obj), idx, w, 1, read=np_read)
        # a copy is no view: it must equal the memory now, and takes no export
        c = np.array(obj)
        assert b.owner.h.destroys == 0
        assert np_read(c) == [b.owner.values[k] for k in idx]
        assert b.obj.exports == self.exports_of(b), (
            f"buffer exports {b.obj.exports} after a copy, model {self.exports_of(b)}")
        return None

    @precondition(lambda self: any(b.obj is not None for b in self.buffers))
    @rule(i=st.integers(0, 99), n=st.integers(1, 12))
    @recorded
    def foreign_frees_race_views(self, i, n):
        """A tensor framework frees DLPack tensors of a buffer from threads of its own,
        without the GIL, while this thread keeps taking and dropping views of the same
        buffer; then waits for every free. The model does not change: a count lost or
        taken twice between the threads shows in the invariants."""
        b = self.pick([b for b in self.buffers if b.obj is not None], i)
        closed = b.owner.closed or b.owner.released
        lib = consumer()
        for _ in range(n):
            try:
                cap = b.obj.__dlpack__(max_version=(1, 0))
            except BufferError:
                assert closed, "__dlpack__: BufferError on an open owner"
                break
            assert not closed, "__dlpack__ exported a closed buffer"
            assert lib.consumer_delete_later(take(cap)) == 0
            m = memoryview(b.obj)
            a = np.asarray(b.obj)
            assert np_read(a) == [b.owner.values[k] for k in range(b.start, b.start + b.n)]
            del m, a
        assert lib.consumer_wait_all() == 0

    @precondition(lambda self: any(v.obj is not None for v in self.views)
                  and len(self.views) < MAX_VIEWS)
    @rule(i=st.integers(0, 99), kind=st.sampled_from(DERIVE_KINDS))
    @recorded
    def derive(self, i, kind):
        p = self.pick([v for v in self.views if v.obj is not None], i)
        obj, b = p.obj, p.buf
        if isinstance(obj, np.ndarray):
            if kind in ("np_slice", "mv_slice"):
                v = MView(b, obj[1:], p.idx[1:], p.writable, 0, p, np_read)
            elif kind in ("np_step", "mv_cast"):
                v = MView(b, obj[::2], p.idx[::2], p.writable, 0, p, np_read)
            elif kind == "np_view":
                v = MView(b, obj.view(np.uint32), p.idx, p.writable, 0, p, np_read)
            elif kind == "np_reversed":
                v = MView(b, obj[::-1], p.idx[::-1], p.writable, 0, p, np_read)
            else:
                v = MView(b, memoryview(obj), p.idx, p.writable, 0, p,
                          lambda m: m.tolist())
        elif isinstance(obj, memoryview) and obj.format == "B":
            if kind != "asarray_of_mv":
                return  # byte views of int32 memory: only read whole, as int32
            # seen as int32 again, so that views derived from it index whole elements
            v = MView(b, np.asarray(obj).view(np.int32), p.idx, False, 0, p, np_read)
        elif isinstance(obj, memoryview):
            if kind == "mv_cast" and obj.c_contiguous:   # raw bytes: read through struct
                v = MView(b, obj.cast("B"), p.idx, False, 0, p,
                          lambda m: list(struct.unpack(f"{len(m) // 4}i", m.tobytes())))
            elif kind == "asarray_of_mv":   # an export of the memoryview, not of the Buffer
                v = MView(b, np.asarray(obj), p.idx, p.writable, 0, p, np_read)
            else:
                v = MView(b, obj[::2] if kind == "np_step" else obj[1:],
                          p.idx[::2] if kind == "np_step" else p.idx[1:], p.writable, 0, p,
                          lambda m: m.tolist())
        else:
            return  # ctypes arrays: nothing to derive
        self.views.append(v)

    @precondition(lambda self: any(v.obj is not None and v.writable and v.idx
                                   for v in self.views))
    @rule(i=st.integers(0, 99), pos=st.integers(0, N - 1), value=I32)
    @recorded
    def write_view(self, i, pos, value):
        v = self.pick([v for v in self.views if v.obj is not None and v.writable and v.idx], i)
        pos %= len(v.idx)
        self.assert_not_destroyed(v.buf.owner)
        v.write(pos, value)
        v.buf.owner.values[v.idx[pos]] = value

    @precondition(lambda self: any(not o.released for o in self.owners))
    @rule(i=st.integers(0, 99), pos=st.integers(0, N - 1), value=I32)
    @recorded
    def write_library(self, i, pos, value):
        """The C library changes its own memory: every view sees it."""
        o = self.pick([o for o in self.owners if not o.released], i)
        self.assert_not_destroyed(o)
        o.h.write(pos, value)
        o.values[pos] = value

    # --- rules: dropping, closing, collecting ---------------------------------------

    @precondition(lambda self: any(v.obj is not None for v in self.views))
    @rule(i=st.integers(0, 99))
    @recorded
    def drop_view(self, i):
        self.pick([v for v in self.views if v.obj is not None], i).obj = None
        self.settle()

    @precondition(lambda self: any(b.obj is not None for b in self.buffers))
    @rule(i=st.integers(0, 99))
    @recorded
    def drop_buffer(self, i):
        self.pick([b for b in self.buffers if b.obj is not None], i).obj = None
        self.settle()

    @precondition(lambda self: self.held_owners())
    @rule(i=st.integers(0, 99))
    @recorded
    def drop_owner(self, i):
        o = self.pick(self.held_owners(), i)
        o.obj = o.wrapper = None
        self.settle()

    # --- rules: trees of owners (Owner(parent=), invalidate()) ------------------------

    @precondition(lambda self: self.tree_parents()
                  and len([o for o in self.owners if not o.released]) < MAX_OWNERS + 2)
    @rule(i=st.integers(0, 99), view=st.booleans(), method=st.booleans())
    @recorded
    def new_child(self, i, view, method):
        parent = self.pick(self.tree_parents(), i)
        h = self.fake.create_ints(N)
        o = MOwner(h, "child")
        o.calls = calls = []
        log, name, hh, lib = self.release_log, o.name, h.h, self.fake.lib
        def release():
            calls.append(1)
            log.append(name)
            lib.fake_destroy(hh)

        if method:
            o.obj = self.owner_obj(parent).child(release, name=o.name)
        else:
            o.obj = pybuf.Owner(release, name=o.name, parent=self.owner_obj(parent))
        o.ref = weakref.ref(o.obj)
        TREE_RUN["new_child"] = TREE_RUN.get("new_child", 0) + 1
        o.parent = parent
        parent.children.append(o)
        self.owners.append(o)
        if view and len(self.views) < MAX_VIEWS:   # a view that alone keeps the child
            b = MBuffer(o, o.obj.buffer(h.ptr, N, "i"), 0, N, False)
            self.buffers.append(b)
            self.views.append(self._export(b, "asarray", list(range(N))))
            b.obj = None

    @precondition(lambda self: self.held_owners_of_tree())
    @rule(i=st.integers(0, 99))
    @recorded
    def invalidate(self, i):
        o = self.pick(self.held_owners_of_tree(), i)
        owner = self.owner_obj(o)
        TREE_RUN["invalidate"] = TREE_RUN.get("invalidate", 0) + 1
        if not o.released and (self.alive_buffers(o) or self.subtree_holds(o)):
            try:
                owner.invalidate()
            except BufferError as e:
                assert "cannot invalidate" in str(e), str(e)
                if not self.alive_buffers(o):
                    assert "child of owner" in str(e), str(e)
                return
            raise AssertionError("invalidate() released under a live buffer")
        owner.invalidate()
        self.model_close(o)
        self.settle()
        assert o.released and owner.released
        assert all(d.released for d in self.descendants(o))

    @precondition(lambda self: self.held_owners())
    @rule(i=st.integers(0, 99), strict=st.booleans(), twice=st.booleans())
    @recorded
    def close(self, i, strict, twice):
        self._close(self.pick(self.held_owners(), i), strict, twice)

    def parents_held(self):
        return [o for o in self.held_owners() if any(not c.released for c in o.children)]

    @precondition(lambda self: self.parents_held())
    @rule(i=st.integers(0, 99), strict=st.booleans(), invalidate=st.booleans())
    @recorded
    def close_parent(self, i, strict, invalidate):
        """A parent with unreleased children closed (or invalidated) first."""
        o = self.pick(self.parents_held(), i)
        TREE_RUN["close_parent"] = TREE_RUN.get("close_parent", 0) + 1
        if invalidate:
            self.invalidate(i=self.held_owners_of_tree().index(o))
        else:
            self._close(o, strict, False)

    def held_owners_of_tree(self):
        return [x for x in self.held_owners() if x.kind in TREE_KINDS]

    def _close(self, o, strict, twice):
        owner = self.owner_obj(o)
        for _ in range(2 if twice else 1):
            if strict and not o.released and (self.alive_buffers(o) or self.subtree_holds(o)):
                try:
                    owner.close(strict=True)
                except BufferError as e:
                    if self.alive_buffers(o):
                        assert f"{self.alive_buffers(o)} buffer(s)" in str(e), str(e)
                        assert f"{self.owner_exports(o)} export(s)" in str(e), str(e)
                    else:
                        assert "child of owner" in str(e), str(e)
                    assert not owner.closed or o.closed
                    continue
                raise AssertionError("strict close released under a live buffer")
            try:
                owner.close(strict=strict)
            except BaseException as e:  # a hostile release's exception reaches the caller
                if not hostile_exception(e):
                    raise
                self.hostile_raised += 1
            self.model_close(o)
            self.settle()
            if strict:
                assert o.released and owner.released

    @rule()
    @recorded
    def collect(self):
        # pybuf releases a garbage cycle's owner at the second collection that finds it
        # (the first runs the cycle's finalizers and keeps it whole: docs/RELIABILITY.md)
        gc.collect()
        gc.collect()
        self.collect_model()
        self.settle()

    def collect_model(self):
        """What two collections release (a `collect` rule, or a hostile release)."""
        for o in self.owners:
            if o.in_cycle and o.wrapper is None and not o.collected:
                if o.kind.startswith("cycle_view"):
                    # the Owner is outside this cycle: only the inner buffer and view go
                    o.collected = True
                elif not any(b.owner is o and self.buffer_alive(b) for b in self.buffers):
                    o.collected = o.released = True

    # --- rules: garbage cycles the way binding authors write them ----------------------

    @precondition(lambda self: len([o for o in self.owners if not o.released]) < MAX_OWNERS)
    @rule(release=st.sampled_from(RELEASE_STYLES), holds=st.sampled_from(CYCLE_HOLDS),
          fin=st.sampled_from(FINALIZERS))
    @recorded
    def new_wrapper_cycle(self, release, holds, fin):
        """A wrapper in a garbage cycle with its owner: the release closes over the wrapper
        (or only the handle), the wrapper keeps a view of some consumer kind, and its
        __del__ reads, keeps, resurrects or closes. Its release is due only once the
        cycle is unreachable for good; the model checks it never comes early or twice."""
        if holds in INVISIBLE_HOLDERS and release not in HANDLE_ONLY:
            # the collector cannot see what an ndarray or a capsule holds: through a release
            # over the wrapper, such a cycle is never garbage (the docs say so)
            holds = "memoryview"
        h = self.fake.create_ints(N)
        o = MOwner(h, "gcycle")
        o.name += f"-{release}-{holds}-{fin}"
        o.calls = []
        o.wrapper = w = make_cycle_wrapper(self, o, h, release, holds, fin)
        o.ref = weakref.ref(w.owner)
        self.owners.append(o)

    @precondition(lambda self: any(o.kind == "gcycle" and o.wrapper is not None
                                   for o in self.owners))
    @rule(i=st.integers(0, 99), where=st.sampled_from(["here", "thread"]))
    @recorded
    def drop_wrapper(self, i, where):
        o = self.pick([o for o in self.owners if o.kind == "gcycle" and o.wrapper is not None], i)
        box = [o.wrapper]
        o.wrapper = None
        if where == "thread":   # another thread drops the last reference
            import threading
            t = threading.Thread(target=box.clear)
            t.start()
            t.join()
        else:
            box.clear()

    @precondition(lambda self: self.kept or self.resurrected)
    @rule()
    @recorded
    def drop_kept(self):
        """What finalizers kept (np.ndarray(buffer=) arrays, resurrected wrappers) goes."""
        for a, o in self.kept:
            assert o.h.destroys == 0, f"{o.name}: released under an array a __del__ kept"
            assert np_read(a) == o.values[:len(a)], o.name
        self.kept.clear()
        self.resurrected.clear()

    @rule()
    @recorded
    def automatic_collection(self):
        """Collections the interpreter starts by itself, with small thresholds."""
        old = gc.get_threshold()
        gc.set_threshold(5, 1, 1)
        gc.enable()
        try:
            junk = []
            for _ in range(40):
                x = []
                x.append(x)
                junk.append(x)
            del junk, x
        finally:
            gc.disable()
            gc.set_threshold(*old)
        # the model of the older cycle kinds knows collections only from `collect`
        self.collect.__wrapped__(self)

    # --- rules: hostile objects (hostile.py) --------------------------------------------

    @staticmethod
    def hostile_step(name):
        HOSTILE_RUN[name] = HOSTILE_RUN.get(name, 0) + 1

    @precondition(lambda self: len([o for o in self.owners if not o.released]) < MAX_OWNERS
                  and "new_hostile_owner" not in WITHOUT)
    @rule(mode=st.sampled_from(hostile.RELEASE_MODES))
    @recorded
    def new_hostile_owner(self, mode):
        """An owner whose Python release frees the memory, then raises, calls sys.exit,
        collects garbage, re-enters pybuf or closes every owner the test holds."""
        self.hostile_step("new_hostile_owner")
        h = self.fake.create_ints(N)
        o = MOwner(h, "hostile")
        o.name += "-" + mode
        o.mode = mode
        o.calls = calls = []
        destroy, hh = self.fake.lib.fake_destroy, h.h

        def job():
            calls.append(1)
            destroy(hh)

        def closes():
            return [self.owner_obj(x) for x in self.closed_by_release(o)]

        o.obj = pybuf.Owner(release=hostile.HostileRelease(mode, job, closes), name=o.name)
        o.ref = weakref.ref(o.obj)
        self.owners.append(o)

    @precondition(lambda self: len([o for o in self.owners if not o.released]) < MAX_OWNERS
                  and "new_arg_owner" not in WITHOUT)
    @rule(arg=hostile.args())
    @recorded
    def new_arg_owner(self, arg):
        """A C release (ctypes, cffi or a CFUNCTYPE callback) whose arg is memory the caller
        allocated with ctypes or cffi and drops at once: the Owner keeps it until its release
        has run (the invariants watch it through a weak reference)."""
        self.hostile_step("new_arg_owner")
        h = self.fake.create_ints(N)
        o = MOwner(h, "arg")
        o.name += f"-{arg.kind}-{arg.release}"
        a, o.probe, release = arg.make(h.h, self.fake.path, self.fake.lib)
        o.obj = pybuf.Owner(release=release, arg=a, name=o.name)
        del a
        o.ref = weakref.ref(o.obj)
        self.owners.append(o)

    @precondition(lambda self: "hostile_layout" not in WITHOUT)
    @rule(i=st.integers(0, 99), entry=st.sampled_from(["buffer", "region", "wrap", "alloc"]),
          seed=st.integers(0, 2 ** 64 - 1))
    @recorded
    def hostile_layout(self, i, entry, seed):
        """owner.buffer, region, wrap and alloc given hostile shapes, strides, offsets and
        dtypes (drawn from `seed`: hostile.py): a Python exception or a buffer that reads
        the memory it says it covers; no owner of the model changes."""
        self.hostile_step("hostile_layout")
        rng = random.Random(seed)
        shape = hostile.random_dims(rng, huge=HUGE_ALLOC if entry == "alloc" else hostile.HUGE)
        strides = hostile.random_dims(rng, small=(-8, 8)) if rng.random() < 0.5 else None
        fmt = rng.choice(["i", "B", "h", "d"]) if rng.random() < 0.7 else \
            hostile.random_dtype_like(rng)
        offset = hostile.random_offset(rng, 4 * N)
        dtype = fmt if isinstance(fmt, str) else fmt.make()
        kw = {} if strides is None else {"strides": strides.make()}
        held = self.held_owners()
        parents = [b for b in self.buffers if b.obj is not None]
        h2 = closed = None
        if entry == "buffer" and held:
            o = self.pick(held, i)
            owner, closed, lo = self.owner_obj(o), o.closed or o.released, 0
            call = lambda: owner.buffer(o.h.ptr, shape.make(), dtype, readonly=True, **kw)
        elif entry == "region" and parents:
            p = self.pick(parents, i)
            o, closed, lo = p.owner, p.owner.closed or p.owner.released, p.start
            call = lambda: p.obj.region(offset, shape.make(), dtype, **kw)
        elif entry in ("buffer", "region", "wrap"):
            o = None
            h2 = self.fake.create_ints(N)
            call = lambda: pybuf.wrap(h2.ptr, shape.make(), dtype, release=self.fake.lib.fake_destroy,
                                      arg=h2.h, readonly=True, name="sm-hostile-wrap", **kw)
        else:
            o = None
            call = lambda: pybuf.alloc(shape.make(), dtype, name="sm-hostile-alloc")
        try:
            b = call()
        except Exception as e:
            assert not isinstance(e, SystemError), repr(e)
            if h2 is not None:
                assert h2.destroys == 0, "wrap raised, yet its release ran"
            return
        assert not closed, "a closed owner made a buffer"
        if o is not None:
            self.assert_not_destroyed(o)
            hi = p.start + p.n if entry == "region" else N
            mem = np.array(o.values, np.int32).tobytes()
            within(b, o.h.ptr + 4 * lo, o.h.ptr + 4 * hi, entry == "region")
            hostile.reads_within(b, mem, o.h.ptr)
        elif h2 is not None:
            hostile.reads_within(b, np.arange(N, dtype=np.int32).tobytes(), h2.ptr)
        elif b.nbytes <= 1 << 16:
            assert not any(np.asarray(b).tobytes()), "alloc's memory is not zero-filled"
        del b
        if h2 is not None:
            assert h2.destroys == 1, f"wrap's release ran {h2.destroys} times after its buffer went"

    @precondition(lambda self: "hostile_exporter" not in WITHOUT)
    @rule(exporter=hostile.exporters(), attack=st.sampled_from(hostile.ATTACKS),
          readonly=st.sampled_from([None, True, False]), array_last=st.booleans())
    @recorded
    def hostile_exporter(self, exporter, attack, readonly, array_last):
        """from_buffer over an exporter that is resized, closed or released while wrapped."""
        self.hostile_step("hostile_exporter")
        reported, collected = hostile.exporter_round(exporter, attack, readonly, array_last)
        self.hostile_reported += reported
        if collected:   # its __release_buffer__ ran two collections
            self.collect_model()
            self.settle()

    # --- invariants -------------------------------------------------------------------

    def assert_not_destroyed(self, o):
        n = o.h.destroys
        assert n == 0, f"{o.name}: destroyed {n} time(s) while the model says it is in use"

    @invariant()
    @recorded
    def model_holds(self):
        STEPS_RUN[0] += 1
        # In this order: nothing reads memory before the destroy counts are known good.
        self.releases_match_model()
        self.children_released_first()
        self.counts_match_model()
        self.live_matches_model()
        self.views_read_last_written()

    def observe_wrapper_cycles(self):
        """A wrapper cycle's release comes at a collection the model does not predict
        exactly; it may come only once nothing the test can reach holds the owner."""
        for o in self.owners:
            if o.kind != "gcycle" or o.released:
                continue
            assert o.h.destroys <= 1, f"{o.name}: destroyed {o.h.destroys} times"
            if o.h.destroys == 1:
                assert o.wrapper is None, f"{o.name}: released while its wrapper is held"
                assert not any(k is o for _, k in self.kept), f"{o.name}: kept array"
                assert not any(r.model is o for r in self.resurrected), f"{o.name}: resurrected"
                o.released = o.collected = True

    def releases_match_model(self):
        # First, and without touching the memory: a premature release must be reported,
        # not turned into a segfault on the guard pages.
        self.observe_wrapper_cycles()
        assert not self.arg_freed_early, f"arg freed before its release: {self.arg_freed_early}"
        assert self.fake.lib.fake_token_bad() == self.token_bad, "a release found no live token"
        for o in self.owners:
            want = 1 if o.released else 0
            assert o.h.destroys == want, (
                f"{o.name} ({o.kind}): destroyed {o.h.destroys} time(s), model says {want}")
            if o.calls is not None:
                assert len(o.calls) == want, f"{o.name}: release called {len(o.calls)} times"
            if o.probe is not None and not o.released:
                assert o.probe() is not None, f"{o.name}: its arg was freed before the release"
        self.unraisable_are_hostile()

    def children_released_first(self):
        """No parent's release before all of its children's: by the destroy counts of
        every parent, and by the order Python releases ran in."""
        at = {name: k for k, name in enumerate(self.release_log)}
        for o in self.owners:
            p = o.parent
            if p is None:
                continue
            assert not (p.h.destroys and not o.h.destroys), (
                f"{p.name} released before its child {o.name}")
            if p.name in at:
                assert at.get(o.name, len(at)) < at[p.name], (
                    f"{p.name} released before its child {o.name}: {self.release_log}")

    def unraisable_are_hostile(self):
        """Only hostile releases' own exceptions may reach sys.unraisablehook, each at
        most once per raising release that ran."""
        bad = [u for u in self.unraisable if not hostile_exception(u.exc_value)]
        assert not bad, [(u.exc_type, u.exc_value) for u in bad]
        raising = self.hostile_reported + sum(
            1 for o in self.owners if o.h.destroys and o.mode in ("raises", "exit"))
        assert len(self.unraisable) + self.hostile_raised <= raising, (
            f"{len(self.unraisable)} reported + {self.hostile_raised} raised, "
            f"{raising} raising releases ran")

    def counts_match_model(self):
        for o in self.owners:
            if o.kind == "gcycle":
                continue    # its buffers and exports live inside the wrapper
            owner = o.ref()
            if owner is None:
                assert o.released, f"{o.name}: Owner freed before its release"
                continue
            assert owner.released == o.released, (
                f"{o.name}: released={owner.released}, model {o.released}")
            assert owner.closed == (o.closed or (o.released and owner.closed)), o.name
            if not o.released:
                assert owner.buffers == self.alive_buffers(o), (
                    f"{o.name}: buffers {owner.buffers}, model {self.alive_buffers(o)}")
                assert owner.exports == self.owner_exports(o), (
                    f"{o.name}: exports {owner.exports}, model {self.owner_exports(o)}")
        for b in self.buffers:
            if b.obj is not None:
                assert b.obj.exports == self.exports_of(b), (
                    f"buffer exports {b.obj.exports}, model {self.exports_of(b)}")
                assert b.obj.readonly == b.readonly

    def live_matches_model(self):
        mine = {i.name: i for i in pybuf.live() if (i.name or "").startswith(PREFIX)}
        want = {o.name: o for o in self.owners if not o.released}
        assert set(mine) == set(want), (sorted(mine), sorted(want))
        for name, info in mine.items():
            o = want[name]
            if o.kind == "gcycle":
                continue
            assert (info.buffers, info.exports) == (self.alive_buffers(o), self.owner_exports(o)), (
                name, info)
            assert info.closed == o.closed, (name, info)
            if o.parent is not None:
                assert info.parent == mine[o.parent.name].id, (name, info)

    def views_read_last_written(self):
        for v in self.views:
            if v.obj is None:
                continue
            self.assert_not_destroyed(v.buf.owner)
            want = [v.buf.owner.values[k] for k in v.idx]
            assert v.read() == want, f"view reads {v.read()}, model {want}"

    def leak_report(self, o):
        owner = o.ref()
        info = [i for i in pybuf.live() if i.name == o.name]
        holders = [type(r).__name__ for r in gc.get_referrers(owner)] if owner is not None else []
        if owner is None:   # a wrapper cycle's weakref is cleared by the collection that resurrects it
            owners = [x for x in gc.get_objects() if isinstance(x, pybuf.Owner) and x.name == o.name]
            holders = [(type(r).__name__, [type(q).__name__ for q in gc.get_referrers(r)][:6])
                       for x in owners for r in gc.get_referrers(x) if r is not owners]
        return (f"{o.name} ({o.kind}, closed={o.closed}): {o.h.destroys} destroys at teardown; "
                f"live={info}; owner={owner!r}; referrers={holders}")

    def teardown(self):
        recorded(PybufMachine._teardown)(self)

    def _teardown(self):
        try:
            for v in self.views:
                v.obj = None
            for b in self.buffers:
                b.obj = None
            for o in self.owners:
                o.obj = o.wrapper = None
            self.views = self.buffers = []
            for _ in range(4):   # finalizers may resurrect or keep once: then a pair more
                self.kept.clear()
                self.resurrected.clear()
                gc.collect()
            for o in self.owners:
                assert o.h.destroys == 1, self.leak_report(o)
                if o.calls is not None:
                    assert len(o.calls) == 1, o.name
            left = [i.name for i in pybuf.live() if (i.name or "").startswith(PREFIX)]
            assert not left, left
            self.unraisable_are_hostile()
        finally:
            gc.unfreeze()
            gc.enable()
            sys.unraisablehook = self._hook


def within(b, start, end, must):
    """A region must lie inside its parent (`must`); a buffer of an owner may lie anywhere
    (the caller vouches for its memory)."""
    e = hostile.extent(b)
    if must and e is not None:
        assert start <= e[0] and e[1] <= end, f"region {e} outside its parent {(start, end)}"


class Wrapper:
    """The object a binding would hold: it refers to its Owner, the Owner's release
    refers back to it, and `me` makes the cycle explicit."""

    def release(self):
        self.calls.append(1)
        self.destroy(self.handle)




class CycleWrapper:
    """A binding's wrapper object. Its release checks that the wrapper is still whole:
    a release that runs after the collector cleared it raises, and the model sees it."""

    def intact(self):
        assert self.owner is not None and self.handle is not None and self.calls is not None

    def release(self):
        self.intact()
        self.calls.append(1)
        self.destroy(self.handle)

    def __del__(self):
        fin, m = self.fin, self.machine
        if fin == "reads" and self.view is not None:
            assert self.model.h.destroys == 0, "finalizer ran after the release"
            bytes(self.view)            # reads the memory: a segfault if released
        elif fin == "keeps_ndarray" and self.buf is not None:
            try:
                m.kept.append((np.ndarray((self.buf.nbytes // 4,), np.int32, buffer=self.buf),
                               self.model))
            except BufferError:
                assert self.model.h.destroys == 1 or self.owner.closed
        elif fin == "resurrects" and not self.resurrected_once:
            self.resurrected_once = True
            m.resurrected.append(self)
        elif fin in ("closes", "closes_strict"):
            try:
                self.owner.close(strict=fin == "closes_strict")
            except BufferError:
                assert fin == "closes_strict"


def make_cycle_wrapper(machine, model, h, release, holds, fin):
    lib = machine.fake.lib
    w = CycleWrapper()
    w.machine, w.model, w.fin, w.resurrected_once = machine, model, fin, False
    w.handle, w.calls, w.destroy = h.h, model.calls, lib.fake_destroy
    w.owner = w.buf = w.view = None
    if release == "method":
        rel, arg = w.release, None
    elif release == "lambda":
        rel, arg = (lambda: w.release()), None
    elif release == "callable_del":
        rel, arg = CallableRelease(w), None
    elif release == "partial_handle":
        calls, hh = model.calls, h.h
        rel, arg = functools.partial(lambda c, x: (c.append(1), lib.fake_destroy(x)), calls, hh), None
    elif release == "cfunc":
        model.calls = None
        rel, arg = lib.fake_destroy, h.h
    else:   # a ctypes callback over the wrapper, called as a C release
        w.cb = CB(lambda p: w.release())
        rel, arg = w.cb, None
    w.owner = pybuf.Owner(release=rel, arg=arg, name=model.name)
    if holds != "none":
        w.buf = w.owner.buffer(h.ptr, N, "i")
    return hold(w, holds, N, np.int32)


def machine_settings(examples, derandomize):
    return settings(max_examples=examples, stateful_step_count=50, deadline=None,
                    phases=PHASES,
                    derandomize=derandomize, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck))


# Shrinking a failure can take minutes; PYBUF_SM_SHRINK=1 asks for the minimal example.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink] if os.environ.get("PYBUF_SM_SHRINK") else [])
CI_EXAMPLES = int(os.environ.get("PYBUF_SM_EXAMPLES", "500"))


def test_lifetime_state_machine():
    before = EXAMPLES_RUN[0]
    run_state_machine_as_test(PybufMachine,
                              settings=machine_settings(CI_EXAMPLES, derandomize=True))
    # hypothesis may stop early only when it has exhausted the search space
    assert EXAMPLES_RUN[0] - before >= min(CI_EXAMPLES, 500)


def main(argv):
    import argparse
    import time
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=CI_EXAMPLES)
    ap.add_argument("--derandomize", action="store_true")
    ap.add_argument("--progress", help="file that holds the examples and steps run so far")
    ap.add_argument("--without", action="append", default=[], metavar="RULE",
                    help="leave a hostile rule out (to measure how soon the others find a bug)")
    args = ap.parse_args(argv)
    WITHOUT.update(args.without)
    if args.progress:
        PROGRESS.append(args.progress)
    t0 = time.monotonic()
    try:
        run_state_machine_as_test(PybufMachine,
                                  settings=machine_settings(args.examples, args.derandomize))
    finally:
        print(f"state machine: {EXAMPLES_RUN[0]} examples executed ({STEPS_RUN[0]} steps, "
              f"{sum(HOSTILE_RUN.values())} hostile) in "
              f"{time.monotonic() - t0:.0f}s (pybuf from {os.path.dirname(pybuf.__file__)})",
              flush=True)
        print("hostile steps: " + " ".join(f"{k}={v}" for k, v in sorted(HOSTILE_RUN.items())),
              flush=True)
        print("tree steps: " + " ".join(f"{k}={v}" for k, v in sorted(TREE_RUN.items())),
              flush=True)
        if FIRST_FAILURE:
            print(f"first failure: {FIRST_FAILURE[0]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

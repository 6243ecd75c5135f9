"""Hostile objects for the generators: what a caller can hand pybuf that runs Python code
at the worst moment.

One place for them, so that the state machine (test_statemachine.py), the property
tests (test_hostile_props.py) and any other test draw the same things:

- `Index`: an integer-like whose `__index__` raises, lies (a different value each call),
  returns a huge value, or mutates the list it is in (clears, shrinks, extends, replaces);
- `Dims`: a shape or strides argument built from those, as a tuple, a list, a list
  subclass or a sequence that changes its length while it is read;
- `Exporter`: a buffer exporter (bytearray, array.array, mmap, a `__buffer__` class on
  3.12+, a memoryview, a released memoryview) and an attack on it while pybuf wraps it
  (resize, close, release);
- `DtypeLike`: dtype arguments that raise or lie while NumPy reads them;
- `HostileRelease`: a release that does its job, then raises, exits, collects, re-enters
  pybuf or closes other owners;
- `Arg`: a ctypes or cffi `arg` the caller drops as soon as the Owner exists, with a
  probe that tells whether it is still alive.

Every factory is a recipe: `make()` builds fresh objects, so that hypothesis can replay
an example and a mutation in one call never leaks into the next; `dims()`, `exporters()`,
`dtype_likes()` and `args()` are their strategies. `exporter_round` and `reads_within` are
the checks both test files apply. The promise they test: a Python exception (never
SystemError) or a correct result, never a crash, and every owner released exactly once.
"""
import array
import ctypes
import gc
import mmap
import random
import sys
import weakref

from hypothesis import strategies as st
from free_threaded import usable_kinds


class HostileError(Exception):
    """Raised on purpose by a hostile hook; the tests accept it wherever the hook can run."""


class HostileExit(SystemExit):
    """What a hostile release raises for sys.exit(): a SystemExit the tests can tell apart."""


def hostile_exception(e):
    return isinstance(e, (HostileError, HostileExit))


# Values that do not fit an int64, an int32, a size_t or the address space.
HUGE = [2 ** 31, 2 ** 32 + 1, 2 ** 40, 2 ** 48, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64 + 1,
        2 ** 100, -1, -2 ** 31, -2 ** 63, -2 ** 63 - 1]
# What alloc may be given: no value that asks the kernel for terabytes it would grant.
HUGE_ALLOC = [v for v in HUGE if v < 0 or v >= 2 ** 48]

INDEX_MODES = ["honest", "raises", "lies", "huge", "clears", "shrinks", "extends", "replaces"]


class Index:
    """An integer-like. `mode`: honest, raises, lies (value, value+1, ... on each call),
    huge (returns `value`, drawn from HUGE), or one of clears / shrinks / extends /
    replaces, which mutate `box` (the list this object sits in) before returning."""

    def __init__(self, mode, value):
        self.mode, self.value, self.box, self.calls = mode, value, None, 0

    def __index__(self):
        self.calls += 1
        mode, box = self.mode, self.box
        if mode == "raises":
            raise HostileError("__index__ raises")
        if mode == "lies":
            return self.value + self.calls - 1
        if box is not None:
            if mode == "clears":
                box.clear()
            elif mode == "shrinks":
                del box[1:]
            elif mode == "extends":
                box.extend([1] * 70)        # past PYBUF_MAXDIM: the list reallocates
            elif mode == "replaces":
                box[:] = [2] * len(box)     # drops every item, this one included
        return self.value

    def __repr__(self):
        return f"Index({self.mode!r}, {self.value!r})"


class ShiftyList(list):
    """A list whose Python-level length and items change each time they are asked for
    (C code that uses the list's storage never sees them)."""

    def __len__(self):
        n = list.__len__(self)
        list.append(self, 1)
        return n

    def __getitem__(self, i):
        if list.__len__(self) > 1:
            list.pop(self)
        return list.__getitem__(self, i)


class ShiftySeq:
    """A sequence (not a list or tuple) that grows or shrinks while it is read."""

    def __init__(self, items, grow):
        self.items, self.grow = list(items), grow

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        if self.grow:
            self.items.append(1)
        elif self.items:
            self.items.pop()
        return self.items[i]

    def __iter__(self):
        i = 0
        while i < len(self.items):
            yield self[i]
            i += 1


CONTAINERS = ["tuple", "list", "shifty_list", "shifty_seq_grow", "shifty_seq_shrink", "scalar"]


class Dims:
    """A recipe for a shape or strides argument: `make()` builds a fresh container
    (items that mutate their container get it as their box)."""

    def __init__(self, container, items):
        self.container, self.items = container, items   # items: ints and (mode, value)

    def make(self):
        items = [Index(*x) if isinstance(x, tuple) else x for x in self.items]
        c = self.container
        if c == "scalar":
            return items[0] if items else 0
        if c == "tuple":
            return tuple(items)
        if c == "list":
            obj = items
        elif c == "shifty_list":
            obj = ShiftyList(items)
        else:
            return ShiftySeq(items, grow=c == "shifty_seq_grow")
        for x in items:
            if isinstance(x, Index):
                x.box = obj
        return obj

    def __repr__(self):
        return f"Dims({self.container!r}, {self.items!r})"


def seeded(factory, *args, **kw):
    """A strategy for factory(rng, ...): one integer drawn, the rest from a Random seeded
    with it. The state machine draws these at every step: a single draw keeps the cost of
    generating a step near that of the rules without hostile objects (the objects
    themselves are printed by their recipes' repr)."""
    return st.integers(0, 2 ** 64 - 1).map(lambda seed: factory(random.Random(seed), *args, **kw))


def random_index(rng, small=(0, 6), huge=HUGE, p_hostile=0.4):
    """A plain int, or (mode, value) for an Index, for a Dims recipe."""
    if rng.random() >= p_hostile:
        return rng.randint(*small)
    mode = rng.choice(INDEX_MODES)
    return (mode, rng.choice(huge) if mode == "huge" else rng.randint(*small))


def random_dims(rng, max_ndim=3, small=(0, 6), huge=HUGE):
    n = rng.randint(0, max_ndim)
    items = [random_index(rng, small, huge) for _ in range(n)]
    container = rng.choice(CONTAINERS)
    if container == "scalar" and n != 1:
        container = "list"
    return Dims(container, items)


def dims(max_ndim=3, small=(0, 6), huge=HUGE):
    """A hostile shape or strides recipe."""
    return seeded(random_dims, max_ndim, small, huge)


def random_offset(rng, hi):
    """A byte offset or address: an int, or an Index around it."""
    x = random_index(rng, (0, hi))
    return Index(*x) if isinstance(x, tuple) else x


# --- exporters ----------------------------------------------------------------------------

EXPORTER_KINDS = ["bytearray", "array", "mmap", "memoryview", "memoryview_released",
                  "bytes"] + (["dunder_buffer"] if sys.version_info >= (3, 12) else [])
ATTACKS = ["resize", "close", "release_view", "none"]
DUNDER_RELEASE_MODES = ["honest", "raises", "resizes", "collects"]


class DunderBuffer:
    """An exporter written in Python (PEP 688, 3.12+): `__buffer__` lends a bytearray's
    memory through a memoryview; `__release_buffer__` counts its calls and misbehaves as
    `mode` says."""

    def __init__(self, data, mode):
        self.data, self.mode, self.gets, self.releases = data, mode, 0, 0

    def __buffer__(self, flags):
        self.gets += 1
        return memoryview(self.data)

    def __release_buffer__(self, view):
        self.releases += 1
        # the exception's traceback keeps this frame: without `view` in it, or the
        # memoryview stays alive with the exception and the bytearray stays exported
        del view
        if self.mode == "raises":
            raise HostileError("__release_buffer__ raises")
        if self.mode == "resizes":
            try:
                self.data.extend(b"\0" * 4096)  # refused while the memoryview lends it
            except BufferError:
                pass
        elif self.mode == "collects":   # two: what releases a garbage cycle's owner
            gc.collect()
            gc.collect()


class Exporter:
    """A recipe: `make()` returns a fresh exporter holding bytes 0..n-1 (mod 256).
    `attack(obj)` tries to resize, close or release it while pybuf may hold its buffer,
    and returns the exception that refused it (None when it went through)."""

    def __init__(self, kind, n, release_mode="honest"):
        # an mmap has at least one byte
        self.kind, self.n, self.release_mode = kind, max(n, kind == "mmap"), release_mode

    def content(self):
        return bytes(i % 256 for i in range(self.n))

    def make(self):
        data = self.content()
        k = self.kind
        if k == "bytearray":
            return bytearray(data)
        if k == "array":
            return array.array("B", data)
        if k == "bytes":
            return bytes(data)
        if k == "mmap":
            m = mmap.mmap(-1, self.n)
            m[:self.n] = data
            return m
        if k == "memoryview":
            return memoryview(bytearray(data))
        if k == "memoryview_released":
            m = memoryview(bytearray(data))
            m.release()
            return m
        return DunderBuffer(bytearray(data), self.release_mode)

    def attackable(self, how):
        """Whether `how` would change this exporter (clearing nothing changes nothing)."""
        return self.kind in ATTACKABLE.get(how, ()) and (how != "close" or self.n > 0)

    def attack(self, obj, how):
        """Returns the exception that refused `how`, None when it happened."""
        try:
            if how == "resize":
                if isinstance(obj, (bytearray, array.array)):
                    obj.extend(b"\0" * 4096 if isinstance(obj, bytearray) else [0] * 4096)
                elif isinstance(obj, mmap.mmap):
                    obj.resize(2 * len(obj) + 4096)
                elif isinstance(obj, DunderBuffer):
                    obj.data.extend(b"\0" * 4096)
                else:
                    return None
            elif how == "close":
                if isinstance(obj, mmap.mmap):
                    obj.close()
                elif isinstance(obj, bytearray):
                    obj.clear()
                elif isinstance(obj, DunderBuffer):
                    obj.data.clear()
                else:
                    return None
            elif how == "release_view":
                if isinstance(obj, memoryview):
                    obj.release()
                else:
                    return None
            return None
        except (BufferError, ValueError, SystemError, OSError) as e:
            return e

    def __repr__(self):
        return f"Exporter({self.kind!r}, {self.n}, {self.release_mode!r})"


ATTACKABLE = {"resize": {"bytearray", "array", "mmap", "dunder_buffer"},
              "close": {"bytearray", "mmap", "dunder_buffer"},
              "release_view": {"memoryview"}}


def exporter_round(exporter, attack, readonly, array_last):
    """Wraps a fresh exporter with pybuf.from_buffer, reads it through an array, attacks
    it while wrapped (the attack must be refused), drops the views in the given order and
    checks the export was released exactly once. Returns (the number of hostile
    exceptions that went to sys.unraisablehook (a raising __release_buffer__), whether
    the release collected garbage twice (a collecting __release_buffer__))."""
    import numpy as np
    import pybuf
    obj = exporter.make()
    try:
        buf = pybuf.from_buffer(obj, readonly=readonly, name="hostile-exporter")
    except Exception as e:
        assert not isinstance(e, SystemError), repr(e)
        # a released memoryview; bytes asked for a writable buffer
        assert exporter.kind in ("memoryview_released", "bytes") or isinstance(e, BufferError), e
        return 0, getattr(obj, "releases", 0) > 0 and obj.mode == "collects"
    owner = weakref.ref(buf.owner)
    a = np.asarray(buf)
    err = exporter.attack(obj, attack)
    if exporter.attackable(attack):
        assert isinstance(err, BufferError), f"{exporter}: {attack} went through under pybuf: {err!r}"
    assert a.tobytes() == exporter.content()
    assert bytes(memoryview(buf)) == exporter.content()
    if array_last:
        del buf
        assert owner() is not None, "released under an array"
        assert a.tobytes() == exporter.content()
        del a
    else:
        del a, buf
    assert owner() is None, "the owner outlived its last view"
    if exporter.attackable(attack):
        assert exporter.attack(obj, attack) is None, f"{exporter}: the export outlived its owner"
    if exporter.kind == "dunder_buffer":
        assert (obj.gets, obj.releases) == (1, 1), (obj.gets, obj.releases)
        return (1 if obj.mode == "raises" else 0), obj.mode == "collects"
    return 0, False


def random_exporter(rng, max_n=64):
    return Exporter(rng.choice(EXPORTER_KINDS), rng.randint(0, max_n),
                    rng.choice(DUNDER_RELEASE_MODES))


def exporters(max_n=64):
    return seeded(random_exporter, max_n)


# --- dtype-likes ------------------------------------------------------------------------

DTYPE_MODES = ["attr_raises", "attr_lies", "str_hash_raises", "str_eq_raises",
               "subarray_index", "fields_index", "index_object"]


class _DtypeAttr:
    """numpy.dtype(obj) reads obj.dtype: this one raises, or names another dtype each time."""

    def __init__(self, mode):
        self.mode, self.calls = mode, 0

    @property
    def dtype(self):
        self.calls += 1
        if self.mode == "attr_raises":
            raise HostileError("dtype attribute raises")
        return ["i4", "f8", "u1", "(2,)i2"][self.calls % 4]

    def __hash__(self):
        return id(self)


class _HostileStr(str):
    """A format string whose hash or equality raises (pybuf caches dtypes by value)."""

    mode = "str_hash_raises"

    def __hash__(self):
        if self.mode == "str_hash_raises":
            raise HostileError("__hash__ raises")
        return str.__hash__(self)

    def __eq__(self, other):
        if self.mode == "str_eq_raises":
            raise HostileError("__eq__ raises")
        return str.__eq__(self, other)


class DtypeLike:
    """A recipe for a dtype argument that runs hostile code while it is read."""

    def __init__(self, mode, index_mode, value):
        self.mode, self.index_mode, self.value = mode, index_mode, value

    def make(self):
        m = self.mode
        if m in ("attr_raises", "attr_lies"):
            return _DtypeAttr(m)
        if m in ("str_hash_raises", "str_eq_raises"):
            class S(_HostileStr):
                mode = m
            return S("i")
        idx = Index(self.index_mode, self.value)
        if m == "subarray_index":
            # a tuple: an __index__ that clears a list NumPy is reading crashes NumPy
            # itself (numpy.dtype(("i4", [x, 2])), NumPy 2.4), outside pybuf's reach
            return ("i4", (idx, 2))
        if m == "fields_index":
            return [("a", "i4", (idx,)), ("b", "u1")]
        return idx

    def __repr__(self):
        return f"DtypeLike({self.mode!r}, {self.index_mode!r}, {self.value!r})"


def random_dtype_like(rng):
    return DtypeLike(rng.choice(DTYPE_MODES), rng.choice(INDEX_MODES), rng.randint(0, 4))


def dtype_likes():
    return seeded(random_dtype_like)


# --- releases ---------------------------------------------------------------------------

RELEASE_MODES = ["raises", "exit", "collect", "reenter", "closes_others"]


class HostileRelease:
    """A Python release: first `job()` (the honest part: free the memory, count the
    call), then misbehave. `closes` returns the owners to close (closes_others)."""

    def __init__(self, mode, job, closes=None):
        self.mode, self.job, self.closes, self.calls = mode, job, closes, 0

    def __call__(self):
        self.calls += 1
        self.job()
        mode = self.mode
        if mode == "raises":
            raise HostileError("release raises")
        if mode == "exit":
            raise HostileExit("release calls sys.exit")
        if mode == "collect":
            gc.collect()
            gc.collect()
        elif mode == "reenter":
            reenter_pybuf()
        elif mode == "closes_others":
            for owner in self.closes():
                try:
                    owner.close()
                except BaseException as e:  # another hostile release it ran: go on
                    if not hostile_exception(e):
                        raise

    def __repr__(self):
        return f"HostileRelease({self.mode!r})"


def reenter_pybuf():
    """What a release may do with pybuf itself: new owners, buffers and views, released
    before it returns; each nested release must have run exactly once."""
    import pybuf
    b = pybuf.alloc(8, "i", name="hostile-reentry-alloc")
    m = memoryview(b)
    m[3] = 7
    assert m.tolist() == [0, 0, 0, 7, 0, 0, 0, 0]
    calls = []
    o = pybuf.Owner(release=lambda: calls.append(1), name="hostile-reentry-owner")
    data = bytearray(range(16))
    inner = pybuf.from_buffer(data, name="hostile-reentry-from-buffer")
    bb = o.buffer(inner.address, 16, "B", readonly=True)
    assert bytes(memoryview(bb)) == bytes(range(16))
    del m, b, bb, o
    assert calls == [1], calls
    del inner
    data.append(1)     # the export is gone


# --- args dropped by the caller ---------------------------------------------------------

# free-threaded CPython has no cffi wheel: its kinds only where cffi can be had
ARG_KINDS = usable_kinds(["ctypes_pointer", "ctypes_byref", "ctypes_array", "cffi_new_ptr",
                          "cffi_new_array"])
ARG_RELEASES = usable_kinds(["ctypes_cfunc", "cffi_cfunc", "cfunctype"])
_ffi = []


def ffi():
    if not _ffi:
        import cffi
        f = cffi.FFI()
        f.cdef("void fake_destroy_indirect(void **);")
        _ffi.append(f)
    return _ffi[0]


class Arg:
    """A recipe for an `arg` that points at a word holding a fake library handle, and a
    C release that destroys the handle it finds there (fake_destroy_indirect). The caller
    keeps only `probe`, a weak reference that dies with the memory the release reads."""

    def __init__(self, kind, release):
        self.kind, self.release = kind, release

    def make(self, handle, lib_path, lib):
        """(arg, weakref probe, release callable for Owner())."""
        k = self.kind
        if k.startswith("ctypes"):
            word = ctypes.c_void_p(handle)
            probe = weakref.ref(word)
            if k == "ctypes_pointer":
                arg = ctypes.pointer(word)
            elif k == "ctypes_byref":
                arg = ctypes.byref(word)
            else:
                arg = (ctypes.c_void_p * 1)(handle)
                probe = weakref.ref(arg)
            del word
        else:
            f = ffi()
            arg = f.new("void **" if k == "cffi_new_ptr" else "void *[1]")
            arg[0] = f.cast("void *", handle)
            probe = weakref.ref(arg)
        return arg, probe, self.release_function(lib_path, lib, probe)

    def release_function(self, lib_path, lib, probe):
        if self.release == "ctypes_cfunc":
            return lib.fake_destroy_indirect
        if self.release == "cffi_cfunc":
            return _cffi_lib(lib_path).fake_destroy_indirect
        destroy = lib.fake_destroy_indirect

        def release(p):
            if probe() is None:
                raise AssertionError("arg freed before its release ran")
            destroy(p)
        return _keep(CB(release))

    def __repr__(self):
        return f"Arg({self.kind!r}, {self.release!r})"


CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_cffi_libs = {}
_callbacks = []


def _cffi_lib(path):
    if path not in _cffi_libs:
        _cffi_libs[path] = ffi().dlopen(path)
    return _cffi_libs[path]


def _keep(cb):
    # a CFUNCTYPE release may run after the test forgot it: the thunk must outlive it
    _callbacks.append(cb)
    return cb


def args():
    return st.builds(Arg, st.sampled_from(ARG_KINDS), st.sampled_from(ARG_RELEASES))


# --- checks ---------------------------------------------------------------------------

def extent(b):
    """[lowest, highest + 1) byte addresses a buffer covers (None when empty)."""
    if 0 in b.shape:
        return None
    lo = sum((n - 1) * s for n, s in zip(b.shape, b.strides) if s < 0)
    hi = sum((n - 1) * s for n, s in zip(b.shape, b.strides) if s > 0) + b.itemsize
    return b.address + lo, b.address + hi


def reads_within(b, mem, base):
    """A buffer over `mem` (bytes at address `base`) reads what NumPy's strided view of the
    same bytes reads; one that lies outside (a lie made it so), or is large, is not read."""
    import numpy as np
    assert b.nbytes == b.itemsize * int(np.prod(b.shape, dtype=object))
    e = extent(b)
    if e is None or e[0] < base or e[1] > base + len(mem) or b.nbytes > 1 << 16:
        return
    a = np.asarray(b)
    want = np.ndarray(b.shape, a.dtype, buffer=mem, offset=b.address - base, strides=b.strides)
    if a.dtype.fields:  # a copy's padding bytes are whatever malloc left: compare fields
        assert (a == want).all(), "a buffer reads other values than its layout says"
    else:
        assert a.tobytes() == want.tobytes(), "a buffer reads other bytes than its layout says"


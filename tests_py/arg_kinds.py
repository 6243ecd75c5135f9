"""Every kind of `arg` an Owner takes, each over a token of the fake library, and what
tells whether it is still held (test_arg_lifetime.py, test_statemachine.py).

A token is {magic, id} in the memory the arg stands for; fake_token_release (a C
`void f(void *)`, tests_py/clib/fakelib.c) counts the id once and marks the token
released, and counts anything else (freed or reused memory, a second release) as bad.

Nothing here imports pybuf, and cffi only for the cffi kinds: subinterpreters and
subprocesses import this module too.
"""
import ctypes
import gc
import itertools
import sys
import weakref

from free_threaded import usable_kinds

CDEF = """
    typedef struct { uint64_t magic; uint64_t id; } fake_token;
    void fake_token_init(void *p, uint64_t id);
    void fake_token_release(void *p);
"""
ARG_KINDS = ["int", "none", "index", "ctypes_pointer", "ctypes_byref", "ctypes_array",
             "c_void_p", "cffi_new", "cffi_cast", "cffi_buffer", "cffi_from_buffer"]
CTYPES_KINDS = ["int", "none", "index", "ctypes_pointer", "ctypes_byref", "ctypes_array",
                "c_void_p"]
C_RELEASES = ["ctypes", "cffi", "int"]
# for loops over every kind inside one test (free-threaded CPython has no cffi wheel)
USABLE_ARG_KINDS = usable_kinds(ARG_KINDS)
SPARE = (ctypes.c_uint8 * 64)()      # memory for the owners' buffers: never released
SPARE_ADDR = ctypes.addressof(SPARE)

_ids = itertools.count(1)
_ffi = []


def next_id():
    return next(_ids)


def ffi():
    if not _ffi:
        import cffi
        f = cffi.FFI()
        f.cdef(CDEF)
        _ffi.append(f)
    return _ffi[0]


def release_for(fake, kind):
    """fake_token_release as a ctypes function, a cffi function pointer or an int."""
    if kind == "ctypes":
        return fake.lib.fake_token_release
    if kind == "cffi":
        return ffi().dlopen(fake.path).fake_token_release
    return ctypes.cast(fake.lib.fake_token_release, ctypes.c_void_p).value


class Token(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_uint64), ("id", ctypes.c_uint64)]


class VoidP(ctypes.c_void_p):
    """A c_void_p that can carry an attribute (a cycle through the arg)."""


class Handle:
    """A handle object a binding hands out: its __index__ is the address."""

    def __init__(self, address):
        self.address = address

    def __index__(self):
        return self.address


class Wrapper:
    """A binding's object, for cycles."""


class Case:
    """One `arg` and what tells whether it is held.

    take() hands `arg` to the Owner: the case keeps no strong reference to an arg that
    takes a weakref. `memory` is the object whose death frees the token, where Python
    owns it. An arg that takes no weakref is watched through `memory` (ctypes.byref) or
    its reference count (an int: the case keeps it, to count). `link` is an object of
    the arg a wrapper can hang on, making a cycle through the arg (weakly held)."""

    def __init__(self, fake, kind, arg, memory, tid, link=None):
        self.fake, self.kind, self.tid = fake, kind, tid
        self._arg = arg
        self._link = weakref.ref(link) if link is not None else None
        try:
            self.arg_ref = weakref.ref(arg)
        except TypeError:
            self.arg_ref = None
        self.counted = arg if self.arg_ref is None and isinstance(arg, int) else None
        self.base = None
        self.memory_deaths = []         # releases of tid counted when `memory` died
        self.memory_ref = weakref.ref(memory) if memory is not None else None
        if memory is not None:
            weakref.finalize(memory, self._memory_died)
        self.bad = fake.lib.fake_token_bad()
        self.nulls = fake.lib.fake_token_nulls()

    @property
    def link(self):
        return self._link() if self._link is not None else None

    def _memory_died(self):
        self.memory_deaths.append(self.releases())

    def take(self):
        arg, self._arg = self._arg, None
        self.arg_id, self.arg_type = id(arg), type(arg)
        if self.counted is not None:
            self.base = sys.getrefcount(self.counted) - 1   # less `arg` here
        return arg

    def releases(self):
        if self.tid is None:
            return self.fake.lib.fake_token_nulls() - self.nulls
        return self.fake.lib.fake_token_releases(self.tid)

    def bad_releases(self):
        return self.fake.lib.fake_token_bad() - self.bad

    def held(self):
        """The arg, and the memory it keeps, are alive."""
        if self.counted is not None:
            return sys.getrefcount(self.counted) > self.base
        alive = self.arg_ref is None or self.arg_ref() is not None
        return alive and (self.memory_ref is None or self.memory_ref() is not None)

    def dropped(self):
        """Nothing holds the arg any more."""
        if self.counted is not None:
            return sys.getrefcount(self.counted) == self.base
        gone = self.arg_ref is None or self.arg_ref() is None
        return gone and (self.memory_ref is None or self.memory_ref() is None)

    def freed(self):
        """After a collection, where weakrefs to a cycle are cleared even if the cycle
        survives it: the arg is no longer among the objects the collector tracks (an
        untracked cffi cdata cannot be seen: only the int's count and tracked objects)."""
        if self.counted is not None:
            return self.dropped()
        return not any(id(x) == self.arg_id and type(x) is self.arg_type
                       for x in gc.get_objects())

    def assert_released_once_on_intact_memory(self):
        """For cycles: whether the memory outlived the release is the token's magic."""
        assert self.bad_releases() == 0, (
            f"{self.kind}: the release found no live token (freed memory, or a second run)")
        assert self.releases() == 1, f"{self.kind}: {self.releases()} releases"
        assert self.freed(), f"{self.kind}: arg still alive after its release"

    def memory_outlived_release(self):
        """The memory died after the one release, or is not Python's."""
        return self.memory_ref is None or self.memory_deaths == [1]

    def assert_released_once_on_live_memory(self):
        assert self.bad_releases() == 0, (
            f"{self.kind}: the release found no live token (freed memory, or a second run)")
        assert self.releases() == 1, f"{self.kind}: {self.releases()} releases"
        assert self.memory_outlived_release(), (
            f"{self.kind}: its memory died after {self.memory_deaths} releases")
        assert self.dropped(), f"{self.kind}: arg still held after its release"


def _ctypes_token(lib, tid):
    t = Token()
    lib.fake_token_init(ctypes.addressof(t), tid)
    return t


def _ctypes_array_token(lib, tid):
    a = (ctypes.c_uint64 * 2)()
    lib.fake_token_init(ctypes.addressof(a), tid)
    return a


def _cffi_token(lib, tid):
    p = ffi().new("fake_token *")
    lib.fake_token_init(int(ffi().cast("uintptr_t", p)), tid)
    return p


def make_arg(fake, kind, tid):
    """(arg, memory, link) of `kind` over a fresh token whose id is `tid`: `memory` is
    the object whose death frees the token (None: C memory, never freed), `link` an
    object of the arg that can carry an attribute (None: none can)."""
    lib = fake.lib
    if kind == "none":
        return None, None, None
    if kind == "int":
        return lib.fake_token_new(tid), None, None
    if kind == "index":
        h = Handle(lib.fake_token_new(tid))
        return h, None, h
    if kind == "ctypes_pointer":
        t = _ctypes_token(lib, tid)
        return ctypes.pointer(t), t, t
    if kind == "ctypes_byref":
        # no link: a byref object takes no part in the collector (as an ndarray), so a
        # cycle through it is never garbage
        t = _ctypes_token(lib, tid)
        return ctypes.byref(t), t, None
    if kind == "ctypes_array":
        a = _ctypes_array_token(lib, tid)
        return a, a, a
    if kind == "c_void_p":
        v = VoidP(lib.fake_token_new(tid))
        return v, None, v
    if kind == "cffi_new":
        p = _cffi_token(lib, tid)
        return p, p, None
    if kind == "cffi_cast":
        return ffi().cast("fake_token *", lib.fake_token_new(tid)), None, None
    if kind == "cffi_buffer":
        p = _cffi_token(lib, tid)
        return ffi().buffer(p), p, None
    if kind == "cffi_from_buffer":
        a = _ctypes_array_token(lib, tid)
        return ffi().from_buffer(a), a, a
    raise AssertionError(kind)


def make_case(fake, kind):
    """A fresh Case of `kind` over a fresh token."""
    tid = None if kind == "none" else next_id()
    arg, memory, link = make_arg(fake, kind, tid)
    return Case(fake, kind, arg, memory, tid, link=link)

"""Python objects are hostile at every C entry point (docs/ARCHITECTURE.md).

Every `__index__`, `__buffer__`, dtype hook, release or `__del__` that pybuf calls may
mutate, free or re-enter anything: the lists it reads, the owner it is making, other
owners, pybuf itself. Each test hands one such object to one entry point and asserts
the outcome: the value read, or the exact exception naming the argument, and the
release count. None of them may crash (tests_py/repros/crash_shape_list_shrunk_by_index.py
is the first of them that did).
"""
import array
import gc
import mmap
import sys
import threading
import weakref

import numpy as np
import pytest

import pybuf
import pybuf._convert
from fakehelp import Calls


class Index:
    """An int-like whose __index__ first runs `then` (it may mutate anything)."""

    def __init__(self, value, then=None):
        self.value = value
        self.then = then

    def __index__(self):
        if self.then is not None:
            then, self.then = self.then, None
            then()
        return self.value


class Planted(Exception):
    """Raised by hostile objects: the exact exception must come back."""


def raise_planted():
    raise Planted("from __index__")


@pytest.fixture
def mem():
    """64 bytes owned by pybuf, and their address."""
    b = pybuf.alloc(64)
    return b, b.address


# --- lists changed by their own items ------------------------------------------------


def test_index_that_clears_the_shape_list_reads_the_list_as_it_was():
    shape = []
    shape.extend([Index(1, shape.clear), 2, 3])
    assert pybuf.alloc(shape).shape == (1, 2, 3)
    assert shape == []


def test_index_that_extends_the_shape_list_reads_the_list_as_it_was(mem):
    _, addr = mem
    shape = []
    shape.extend([Index(2, lambda: shape.extend([1] * 1000)), 4])
    assert pybuf.wrap(addr, shape).shape == (2, 4)
    assert len(shape) == 1002


def test_index_that_frees_a_later_item_still_reads_that_item():
    later = Index(5)
    shape = [Index(1, lambda: shape.__setitem__(1, None)), later]
    wr = weakref.ref(later)
    del later
    assert pybuf.alloc(shape).shape == (1, 5)
    assert shape[1] is None and wr() is None  # the snapshot held it, and let go


def test_index_that_shrinks_the_strides_list_reads_the_list_as_it_was(mem):
    _, addr = mem
    strides = []
    strides.extend([Index(8, lambda: strides.__delitem__(slice(1, None))), 1])
    b = pybuf.wrap(addr, (2, 8), strides=strides)
    assert b.strides == (8, 1)
    assert strides == [strides[0]]


def test_index_that_clears_the_region_shape_reads_the_list_as_it_was(mem):
    b, _ = mem
    shape = []
    shape.extend([Index(2, shape.clear), 4])
    assert b.region(0, shape).shape == (2, 4)


def test_dtype_extra_shape_is_appended_after_a_shrinking_shape(mem):
    _, addr = mem
    shape = []
    shape.extend([Index(2, shape.clear), 3])
    assert pybuf.wrap(addr, shape, np.dtype(("u1", (2,)))).shape == (2, 3, 2)


# --- __index__ that raises, overflows or answers no int --------------------------------


def shape_calls(addr, bad):
    return {
        "alloc-shape": lambda: pybuf.alloc([2, bad]),
        "wrap-shape": lambda: pybuf.wrap(addr, (2, bad)),
        "wrap-strides": lambda: pybuf.wrap(addr, (2, 2), strides=[2, bad]),
        "wrap-address": lambda: pybuf.wrap(bad, 4),
        "region-offset": lambda: pybuf.alloc(64).region(bad, 4),
        "region-shape": lambda: pybuf.alloc(64).region(0, [bad]),
    }


@pytest.mark.parametrize("where", sorted(shape_calls(0, 0)))
def test_index_that_raises_propagates_exactly(mem, where):
    bad = Index(1, raise_planted)
    with pytest.raises(Planted, match="from __index__"):
        shape_calls(mem[1], bad)[where]()


ARGNAME = {"alloc-shape": "shape[1]", "wrap-shape": "shape[1]", "wrap-strides": "strides[1]",
           "wrap-address": "address", "region-offset": "offset", "region-shape": "shape[0]"}


@pytest.mark.parametrize("where", sorted(ARGNAME))
def test_index_too_large_for_64_bits_is_overflow_error_naming_the_argument(mem, where):
    with pytest.raises(OverflowError) as ei:
        shape_calls(mem[1], Index(2 ** 64 + 3))[where]()
    assert f"{ARGNAME[where]} does not fit in 64 bits" in str(ei.value)


@pytest.mark.parametrize("where", ["alloc-shape", "wrap-shape", "region-shape"])
def test_index_too_large_for_memory_is_overflow_error_naming_shape(mem, where):
    with pytest.raises((OverflowError, ValueError)) as ei:
        shape_calls(mem[1], Index(2 ** 62))[where]()
    assert "shape" in str(ei.value)


@pytest.mark.parametrize("where", ["alloc-shape", "wrap-shape", "wrap-address", "region-offset"])
def test_index_negative_is_value_error_naming_the_argument(mem, where):
    with pytest.raises(ValueError) as ei:
        shape_calls(mem[1], Index(-1))[where]()
    assert ARGNAME[where].split("[")[0] in str(ei.value)


@pytest.mark.parametrize("where", sorted(ARGNAME))
def test_index_returning_no_int_is_type_error_naming_the_argument(mem, where):
    with pytest.raises(TypeError) as ei:
        shape_calls(mem[1], Index("2"))[where]()
    assert str(ei.value) == f"{ARGNAME[where]}: __index__ returned str, not an int"


# --- sequences that lie ------------------------------------------------------------------


class LyingList(list):
    """A list whose own __len__, __iter__ and __getitem__ lie and mutate."""

    calls = 0

    def __len__(self):
        LyingList.calls += 1
        return 1000

    def __iter__(self):
        LyingList.calls += 1
        self.clear()
        return iter(())

    def __getitem__(self, i):
        LyingList.calls += 1
        self.clear()
        return 7


def test_list_subclass_is_read_from_its_storage_without_its_own_methods():
    LyingList.calls = 0
    shape = LyingList([2, 3])
    assert pybuf.alloc(shape).shape == (2, 3)
    assert LyingList.calls == 0
    assert list.__len__(shape) == 2


def test_sequence_that_is_no_list_or_tuple_is_type_error_naming_shape():
    class Seq:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            if i < 2:
                return 4
            raise IndexError(i)

    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints, not Seq"):
        pybuf.alloc(Seq())


# --- objects dressed as cffi's --------------------------------------------------------


def test_python_class_named_like_a_cffi_type_is_no_cffi_pointer(mem):
    # type() accepts dots: its length would sit where cffi keeps the CType pointer
    Disguised = type("_cffi_backend.__CDataOwn", (bytes,), {})
    with pytest.raises(TypeError, match="address must be an int, a ctypes pointer"):
        pybuf.wrap(Disguised(b"abcde"), 4)


def test_python_callable_named_like_a_cffi_type_is_a_python_release():
    calls = Calls()
    Disguised = type("_cffi_backend.__CDataOwn", (), {"__call__": lambda self: calls()})
    pybuf.Owner(Disguised()).close()
    assert calls.calls == 1


# --- the owner closed, or its last Buffer dropped, in the middle of a call ---------------


def test_index_that_closes_the_owner_refuses_the_region():
    b = pybuf.alloc(64, name="closed-mid-region")
    with pytest.raises(BufferError, match="owner 'closed-mid-region' is closed"):
        b.region(0, [Index(4, b.owner.close)])
    assert b.owner.buffers == 1


def test_index_that_closes_the_owner_refuses_owner_buffer_and_releases_once(mem):
    _, addr = mem
    calls = Calls()
    owner = pybuf.Owner(calls, name="closed-mid-buffer")
    with pytest.raises(BufferError, match="owner 'closed-mid-buffer' is released"):
        owner.buffer(addr, [Index(4, owner.close)])
    assert calls.calls == 1
    assert owner.buffers == 0


def test_index_that_drops_the_last_buffer_and_closes_refuses_and_releases_after(mem):
    _, addr = mem
    calls = Calls()
    held = {"b": pybuf.wrap(addr, 8, release=calls, name="dropped-mid-region")}

    def drop_and_close():
        b = held.pop("b")
        b.owner.close()

    with pytest.raises(BufferError, match="is closed"):
        held["b"].region(0, [Index(4, drop_and_close)])
    gc.collect()
    assert calls.calls == 1


def test_flag_whose_bool_closes_the_owner_refuses_the_region():
    b = pybuf.alloc(64)

    class Closes:
        def __bool__(self):
            b.owner.close()
            return True

    with pytest.raises(BufferError, match="is closed"):
        b.region(0, 4, readonly=Closes())


def test_dlpack_argument_that_closes_the_owner_refuses_the_export():
    b = pybuf.alloc(64, "f8")
    with pytest.raises(BufferError, match="is closed"):
        b.__dlpack__(max_version=(Index(1, b.owner.close), 0))
    assert b.exports == 0 and b.owner.exports == 0


def test_owner_under_construction_is_out_of_reach_of_the_code_it_runs(mem):
    _, addr = mem
    seen = []

    def look():
        seen.extend(o for o in gc.get_objects()
                    if isinstance(o, pybuf.Owner) and o.name == "in-the-making")

    b = pybuf.wrap(addr, [Index(4, look)], name="in-the-making")
    assert seen == []
    assert b.owner.name == "in-the-making" and b.owner in gc.get_objects()


def test_init_called_again_from_a_hook_refuses_and_keeps_the_registry_intact(fake):
    h = fake.create_ints(4)

    class Sub(pybuf.Owner):
        pass

    o = Sub.__new__(Sub)
    arg = Index(h.h, lambda: Sub.__init__(o, name="inner"))
    with pytest.raises(TypeError, match=r"Owner.__init__\(\) may be called only once"):
        Sub.__init__(o, fake.lib.fake_destroy, arg=arg, name="outer")
    assert [i.name for i in pybuf.live() if i.name in ("inner", "outer")] == ["inner"]
    del o, arg
    gc.collect()
    assert [i.name for i in pybuf.live() if i.name in ("inner", "outer")] == []
    assert h.destroys == 0  # the outer release was never taken
    after = pybuf.Owner(name="after-reinit")
    assert [i.name for i in pybuf.live() if i.name == "after-reinit"] == ["after-reinit"]
    after.close()


def test_release_arg_whose_index_makes_and_closes_other_owners(fake):
    h = fake.create_ints(4)
    others = Calls()

    def churn():
        for _ in range(20):
            pybuf.Owner(others).close()
        pybuf.alloc(64)

    b = pybuf.wrap(h.ptr, 4, "i", release=fake.lib.fake_destroy, arg=Index(h.h, churn))
    assert others.calls == 20 and h.destroys == 0
    b.owner.close()
    del b
    gc.collect()
    assert h.destroys == 1


def test_name_whose_repr_raises_propagates_from_repr():
    class Name(str):
        def __repr__(self):
            raise Planted("from __repr__")

    o = pybuf.Owner(name=Name("n"))
    with pytest.raises(Planted, match="from __repr__"):
        repr(o)
    o.close()


def test_name_whose_repr_closes_the_owner_words_the_error_of_its_state():
    b = pybuf.alloc(8)

    class Name(str):
        def __repr__(self):
            return "'renamed'"

    o = pybuf.Owner(name=Name("n"))
    o.close()
    with pytest.raises(BufferError, match="owner 'renamed' is released"):
        o.buffer(b.address, 4)


class HostileName(threading.Thread):
    """A thread whose name (read by pybuf.trace() for creation sites) runs code."""

    def __init__(self, target):
        super().__init__(target=self._run)
        self._work = target
        self.on_name = None
        self.outcome = None

    @property
    def name(self):
        if self.on_name is not None:
            act, self.on_name = self.on_name, None
            act()
        return "hostile"

    @name.setter
    def name(self, value):
        pass

    def _run(self):
        try:
            self.outcome = self._work(self)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            self.outcome = e


def run_traced_in_hostile_thread(work):
    """Runs work(thread) with tracing on, in a thread whose name runs Python code."""
    pybuf.trace(True)
    t = HostileName(work)
    t.start()
    t.join()
    pybuf.trace(False)
    return t


def test_thread_name_that_closes_the_owner_while_tracing_refuses_the_buffer(no_trace, mem):
    _, addr = mem
    calls = Calls()
    owner = pybuf.Owner(calls, name="closed-by-thread-name")

    def work(t):
        t.on_name = owner.close
        return owner.buffer(addr, 4)

    t = run_traced_in_hostile_thread(work)
    assert isinstance(t.outcome, BufferError), t.outcome
    assert calls.calls == 1 and owner.buffers == 0


def test_thread_name_that_closes_the_owner_while_tracing_refuses_the_export(no_trace):
    b = pybuf.alloc(16)

    def work(t):
        t.on_name = b.owner.close
        return memoryview(b)

    t = run_traced_in_hostile_thread(work)
    assert isinstance(t.outcome, BufferError), t.outcome
    assert b.exports == 0


# --- exporters resized or released while wrapped ----------------------------------------


def test_bytearray_cannot_be_resized_while_wrapped():
    data = bytearray(b"abcd")
    b = pybuf.from_buffer(data)
    with pytest.raises(BufferError):
        data.extend(b"efgh")
    assert bytes(np.asarray(b)) == b"abcd"
    b.owner.close()
    del b
    data.extend(b"efgh")
    assert data == bytearray(b"abcdefgh")


def test_array_cannot_be_resized_while_wrapped():
    data = array.array("i", [1, 2, 3])
    b = pybuf.from_buffer(data)
    with pytest.raises(BufferError):
        data.append(4)
    assert list(np.asarray(b)) == [1, 2, 3]
    b.owner.close()
    del b
    data.append(4)
    assert len(data) == 4


def test_memoryview_cannot_be_released_while_wrapped():
    view = memoryview(bytearray(b"wxyz"))
    b = pybuf.from_buffer(view)
    with pytest.raises(BufferError):
        view.release()
    assert bytes(np.asarray(b)) == b"wxyz"
    b.owner.close()
    del b
    view.release()


def test_mmap_cannot_be_closed_while_wrapped():
    m = mmap.mmap(-1, 4096)
    m[:4] = b"mmap"
    b = pybuf.from_buffer(m)
    with pytest.raises(BufferError):
        m.close()
    assert bytes(np.asarray(b)[:4]) == b"mmap"
    b.owner.close()
    del b
    m.close()
    assert m.closed


needs_buffer_protocol_in_python = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="__buffer__ in Python classes is PEP 688 (3.12+)")


class Exporter:
    """A Python exporter (PEP 688) over a bytearray, counting its releases."""

    def __init__(self, data=b"exported", on_buffer=None, on_release=None):
        self.data = bytearray(data)
        self.on_buffer = on_buffer
        self.on_release = on_release
        self.released = 0

    def __buffer__(self, flags):
        if self.on_buffer is not None:
            self.on_buffer()
        return memoryview(self.data)

    def __release_buffer__(self, view):
        self.released += 1
        view.release()
        if self.on_release is not None:
            self.on_release()


@needs_buffer_protocol_in_python
@pytest.mark.parametrize("error", [Planted, TypeError])
def test_exporter_whose_buffer_raises_propagates_exactly(error):
    """An exporter's own exception, a TypeError included, passes through as it is."""
    def fail():
        raise error("from __buffer__")

    with pytest.raises(error, match="^from __buffer__$"):
        pybuf.from_buffer(Exporter(on_buffer=fail))


@needs_buffer_protocol_in_python
def test_exporter_whose_buffer_makes_and_closes_owners_is_wrapped():
    others = Calls()

    def churn():
        for _ in range(10):
            pybuf.Owner(others).close()
        pybuf.from_buffer(bytearray(8)).owner.close()

    ex = Exporter(on_buffer=churn)
    b = pybuf.from_buffer(ex)
    assert bytes(np.asarray(b)) == b"exported" and others.calls == 10
    b.owner.close()
    del b
    assert ex.released == 1


@needs_buffer_protocol_in_python
def test_exporter_cannot_be_resized_while_wrapped_and_is_released_once():
    ex = Exporter()
    b = pybuf.from_buffer(ex)
    with pytest.raises(BufferError):
        ex.data.extend(b"more")
    assert ex.released == 0
    b.owner.close()
    del b
    gc.collect()
    assert ex.released == 1
    ex.data.extend(b"more")


@needs_buffer_protocol_in_python
def test_exporter_whose_release_raises_is_unraisable_and_released_once(unraisable):
    def fail():
        raise Planted("from __release_buffer__")

    ex = Exporter(on_release=fail)
    b = pybuf.from_buffer(ex)
    b.owner.close()
    del b
    gc.collect()
    assert ex.released == 1
    assert [u[0] for u in unraisable] == [Planted]


# --- dtype-likes ------------------------------------------------------------------------


class DtypeLike:
    """What numpy.dtype() reads through a `dtype` attribute."""

    def __init__(self, fmt, on_del=None):
        self.fmt = fmt
        self.on_del = on_del

    @property
    def dtype(self):
        if isinstance(self.fmt, BaseException):
            raise self.fmt
        return np.dtype(self.fmt)

    def __del__(self):
        if self.on_del is not None:
            self.on_del()


def test_dtype_like_that_raises_value_error_is_type_error_naming_dtype(mem):
    with pytest.raises(TypeError, match="dtype must be a format string or a NumPy dtype"):
        pybuf.wrap(mem[1], 4, DtypeLike(ValueError("no such dtype")))


def test_dtype_like_that_raises_another_exception_propagates_exactly(mem):
    with pytest.raises(Planted, match="from dtype"):
        pybuf.wrap(mem[1], 4, DtypeLike(Planted("from dtype")))


def test_dtype_like_whose_hash_raises_propagates_exactly(mem):
    class Unhashable(DtypeLike):
        def __hash__(self):
            raise Planted("from __hash__")

    with pytest.raises(Planted, match="from __hash__"):
        pybuf.wrap(mem[1], 4, Unhashable("u1"))


def test_dtype_like_whose_eq_floods_the_cache_during_lookup_gets_its_own_format(mem):
    _, addr = mem

    class Colliding(DtypeLike):
        flood = False

        def __hash__(self):
            return 424242

        def __eq__(self, other):
            if Colliding.flood:
                Colliding.flood = False
                for _ in range(300):  # fills and clears the per-dtype cache
                    pybuf.wrap(addr, 1, DtypeLike("u1"))
            return self is other

    first, second = Colliding("u1"), Colliding("f8")
    pybuf.wrap(addr, 1, first)
    Colliding.flood = True
    assert pybuf.wrap(addr, 1, second).format == "d"
    assert pybuf.wrap(addr, 1, first).format == "B"


def test_dtype_like_whose_del_calls_wrap_keeps_each_dtype_its_own_format(mem):
    """The last dtype and its answer change together: dropping the previous one may
    run its __del__, which may call wrap with yet another dtype."""
    _, addr = mem
    cleared = []
    # Until the per-dtype cache is cleared (a dtype held only by it dies), then fill
    # it to one short of full, so the next miss clears it with `dying` still last.
    while not cleared:
        pybuf.wrap(addr, 1, DtypeLike("u1", lambda: cleared.append(1)))
        pybuf._convert._dtype_cached.cache_clear()
    keep = [DtypeLike("u1") for _ in range(254)]
    for d in keep:
        pybuf.wrap(addr, 1, d)
    byte = DtypeLike("u1")
    dying = DtypeLike("u1", lambda: pybuf.wrap(addr, 1, byte))
    pybuf.wrap(addr, 1, dying)
    del dying
    pybuf._convert._dtype_cached.cache_clear()
    assert pybuf.wrap(addr, 1, DtypeLike("f8")).format == "d"
    b = pybuf.wrap(addr, 1, byte)
    assert (b.format, b.nbytes) == ("B", 1)


# --- releases that raise, exit, collect or re-enter --------------------------------------


def test_release_that_raises_propagates_from_close_and_runs_once():
    calls = Calls(exc=Planted("from the release"))
    o = pybuf.Owner(calls)
    with pytest.raises(Planted, match="from the release"):
        o.close()
    o.close()
    assert calls.calls == 1 and o.released


def test_release_that_raises_at_deallocation_is_unraisable(unraisable):
    calls = Calls(exc=Planted("from the release"))
    o = pybuf.Owner(calls)
    del o
    assert calls.calls == 1
    assert [u[0] for u in unraisable] == [Planted]


def test_release_that_exits_raises_system_exit_from_close():
    calls = Calls(then=lambda: sys.exit(3))
    o = pybuf.Owner(calls)
    with pytest.raises(SystemExit) as ei:
        o.close()
    assert ei.value.code == 3 and calls.calls == 1 and o.released


def test_release_that_exits_at_deallocation_is_unraisable_and_the_program_goes_on(unraisable):
    calls = Calls(then=lambda: sys.exit(3))
    b = pybuf.wrap(pybuf.alloc(8).address, 8, release=calls)
    del b
    assert calls.calls == 1
    assert [u[0] for u in unraisable] == [SystemExit]


def test_release_that_collects_runs_once_from_close():
    calls = Calls(then=gc.collect)
    o = pybuf.Owner(calls)
    o.close()
    gc.collect()
    assert calls.calls == 1


def test_release_that_collects_runs_once_from_a_garbage_cycle():
    collected = []

    def release():
        collected.append(gc.collect())

    class Wrapper:
        pass

    w = Wrapper()
    w.buf = pybuf.wrap(pybuf.alloc(8).address, 8, release=release)
    w.self = w
    del w
    for _ in range(3):
        gc.collect()
    assert len(collected) == 1


def test_releases_that_close_other_owners_run_once_each_in_order():
    order = []
    c = pybuf.Owner(lambda: order.append("c"))
    b = pybuf.Owner(lambda: (order.append("b"), c.close()))
    a = pybuf.Owner(lambda: (order.append("a"), b.close(), a.close()))
    a.close()
    a.close()
    assert order == ["a", "b", "c"]
    assert a.released and b.released and c.released


def test_release_that_makes_new_owners_leaves_them_working():
    made = []

    def release():
        made.append(pybuf.alloc(16, "i"))
        made.append(pybuf.wrap(made[0].address, 4, "i", release=Calls()))

    pybuf.Owner(release).close()
    np.asarray(made[1])[:] = [1, 2, 3, 4]
    assert list(np.asarray(made[0])[:4]) == [1, 2, 3, 4]
    assert not made[0].closed and not made[1].closed


def test_release_that_drops_its_owner_in_a_garbage_cycle_runs_once(fake):
    """The release deletes the last references to its own owner while it runs (the
    owner is freed before the release returns); pybuf must not touch it after."""

    class Wrapper:
        def __init__(self):
            self.h = fake.create_ints(4)
            self.owner = pybuf.Owner(release=self.release)
            self.buf = self.owner.buffer(self.h.ptr, 4, "i")
            self.ran = ran

        def release(self):
            self.ran.append(weakref.ref(self.owner))
            del self.owner, self.buf
            gc.collect()
            self.h.lib.fake_destroy(self.h.h)

    ran = []
    w = Wrapper()
    h = w.h
    del w
    for _ in range(3):
        gc.collect()
    assert len(ran) == 1 and ran[0]() is None
    assert h.destroys == 1
    assert pybuf.alloc(8).owner.buffers == 1

"""Addresses, C releases and their arg given as ints, ctypes and cffi objects."""
import ctypes
import gc

import numpy as np
import pytest

import pybuf
from fakehelp import describe


@pytest.fixture
def h(fake):
    return fake.create_ints(16)


@pytest.fixture
def ffi_lib(fake):
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef("""
        void fake_destroy(void *h);
        void fake_free_data(void *p);
        int fake_destroy_count(void *h);
    """)
    return ffi, ffi.dlopen(fake.path)


# --- address ----------------------------------------------------------------------

def _check(buf, h):
    assert buf.address == h.ptr
    assert np.asarray(buf).tolist() == list(range(16))


def test_address_int(h):
    _check(pybuf.wrap(h.ptr, 16, "i"), h)


def test_address_ctypes_pointer(h):
    p = ctypes.cast(h.ptr, ctypes.POINTER(ctypes.c_int32))
    _check(pybuf.wrap(p, 16, "i"), h)
    pd = ctypes.cast(h.ptr, ctypes.POINTER(ctypes.c_double))
    _check(pybuf.Owner().buffer(pd, 16, "i"), h)


def test_address_ctypes_array(h):
    arr = (ctypes.c_int32 * 16).from_address(h.ptr)
    _check(pybuf.wrap(arr, 16, "i"), h)
    arr2 = (ctypes.c_int32 * 4 * 4).from_address(h.ptr)
    _check(pybuf.wrap(arr2, 16, "i"), h)


def test_address_c_void_p(h):
    _check(pybuf.wrap(ctypes.c_void_p(h.ptr), 16, "i"), h)


def test_address_c_char_p_array_of_bytes(h):
    arr = (ctypes.c_ubyte * 64).from_address(h.ptr)
    b = pybuf.wrap(arr, 64, "B")
    assert b.address == h.ptr


def test_address_null_ctypes_pointer_zero_size():
    b = pybuf.wrap(ctypes.c_void_p(None), 0, "i")
    assert b.nbytes == 0
    with pytest.raises(ValueError):
        pybuf.wrap(ctypes.c_void_p(None), 4, "i")
    with pytest.raises(ValueError):
        pybuf.wrap(ctypes.POINTER(ctypes.c_int)(), 4, "i")


def test_address_cffi_pointer(h):
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    p = ffi.cast("int32_t *", h.ptr)
    _check(pybuf.wrap(p, 16, "i"), h)
    _check(pybuf.wrap(ffi.cast("void *", h.ptr), 16, "i"), h)
    with pytest.raises(ValueError):
        pybuf.wrap(ffi.NULL, 4, "i")


def test_address_cffi_new_buffer():
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    mem = ffi.new("int32_t[8]", list(range(8)))
    b = pybuf.wrap(mem, 8, "i")
    assert b.address == int(ffi.cast("uintptr_t", mem))
    assert np.asarray(b).tolist() == list(range(8))


# --- release as a C function --------------------------------------------------------

def _run_release(fake, h, release, arg):
    owner = pybuf.Owner(release=release, arg=arg)
    buf = owner.buffer(h.ptr, 16, "i")
    a = np.asarray(buf)
    del buf
    owner.close()
    assert h.destroys == 0
    assert a.sum() == 120
    del a
    gc.collect()
    assert h.destroys == 1
    del owner
    gc.collect()
    assert h.destroys == 1


def test_release_cdll_attribute_called_with_arg_once(fake, h):
    _run_release(fake, h, fake.lib.fake_destroy, h.h)


def test_release_cdll_attribute_no_argtypes(fake, h):
    lib = ctypes.CDLL(fake.path)
    _run_release(fake, h, lib.fake_destroy, h.h)


def test_release_cfunctype_from_library(fake, h):
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    f = proto(("fake_destroy", fake.lib))
    _run_release(fake, h, f, h.h)


def test_release_cfunctype_cast_from_address(fake, h):
    addr = ctypes.cast(fake.lib.fake_destroy, ctypes.c_void_p).value
    f = ctypes.cast(addr, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
    _run_release(fake, h, f, h.h)


def test_release_int_address(fake, h):
    addr = ctypes.cast(fake.lib.fake_destroy, ctypes.c_void_p).value
    assert isinstance(addr, int)
    _run_release(fake, h, addr, h.h)


def test_release_cffi_function_pointer(fake, h, ffi_lib):
    ffi, C = ffi_lib
    _run_release(fake, h, C.fake_destroy, h.h)


def test_release_cffi_cast_function_pointer(fake, h, ffi_lib):
    ffi, C = ffi_lib
    addr = ctypes.cast(fake.lib.fake_destroy, ctypes.c_void_p).value
    fp = ffi.cast("void(*)(void *)", addr)
    _run_release(fake, h, fp, h.h)


def test_release_cffi_function_read_in_c_after_one_check(run_isolated):
    # The release hook answers once per cffi function type; after that the
    # shim reads the function's address itself, and each release still runs.
    pytest.importorskip("cffi")
    rc, out, err = run_isolated("""
        import os, cffi
        from pybuf import _convert, _pybuf
        calls = {"release": 0}
        hooks = _convert._hooks()
        def counted(obj, inner=hooks["release"]):
            calls["release"] += 1
            return inner(obj)
        hooks["release"] = counted
        _pybuf._set_hooks(hooks, os.path.dirname(pybuf.__file__) + os.sep)
        ffi = cffi.FFI()
        ffi.cdef("void fake_destroy(void *h);")
        C = ffi.dlopen(fake.path)
        for i in range(3):
            h = fake.create_ints(4)
            buf = pybuf.wrap(h.ptr, 4, "i", release=C.fake_destroy, arg=h.h)
            assert np.asarray(buf)[3] == 3
            del buf
            assert h.destroys == 1, h.destroys
        print("hook calls", calls["release"])
        try:
            pybuf.wrap(0, 0, "i", release=ffi.new("int *"))
        except TypeError as e:
            print("TypeError", e)
    """)
    assert rc == 0, describe(rc, out, err)
    assert "hook calls 1" in out, out
    assert "TypeError release: this cffi object is not a function pointer" in out, out


def test_release_python_cfunctype_callback(run_isolated):
    # a ctypes callback is a C function too: it takes the GIL itself
    rc, out, err = run_isolated("""
        seen = []
        CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        cb = CB(lambda p: seen.append(p))
        h = fake.create_ints(4)
        owner = pybuf.Owner(release=cb, arg=12345)
        buf = owner.buffer(h.ptr, 4, "i")
        a = np.asarray(buf)
        owner.close()
        del buf
        assert seen == []
        del a
        gc.collect()
        print("seen", seen)
        owner.close()
        print("seen", seen)
    """)
    assert rc == 0, describe(rc, out, err)
    assert out.count("seen [12345]") == 2, out


# --- arg ---------------------------------------------------------------------------

def test_arg_int(fake, h):
    _run_release(fake, h, fake.lib.fake_free_data, h.ptr)


def test_arg_ctypes_pointer(fake, h):
    _run_release(fake, h, fake.lib.fake_free_data,
                 ctypes.cast(h.ptr, ctypes.POINTER(ctypes.c_int32)))


def test_arg_c_void_p(fake, h):
    _run_release(fake, h, fake.lib.fake_destroy, ctypes.c_void_p(h.h))


def test_arg_ctypes_array(fake, h):
    _run_release(fake, h, fake.lib.fake_free_data, (ctypes.c_int32 * 16).from_address(h.ptr))


def test_arg_cffi_pointer(fake, h, ffi_lib):
    ffi, C = ffi_lib
    _run_release(fake, h, fake.lib.fake_free_data, ffi.cast("int32_t *", h.ptr))


def test_arg_none_is_null(fake, h):
    before = fake.null_frees()
    owner = pybuf.Owner(release=fake.lib.fake_free_data, arg=None)
    buf = owner.buffer(h.ptr, 16, "i")
    del buf
    owner.close()
    assert fake.null_frees() == before + 1
    assert h.destroys == 0


def test_arg_omitted_is_null(fake, h):
    before = fake.null_frees()
    owner = pybuf.Owner(release=fake.lib.fake_free_data)
    owner.close()
    assert fake.null_frees() == before + 1


def test_arg_counter(fake):
    counter = ctypes.c_long(0)
    owner = pybuf.Owner(release=fake.lib.fake_count_arg, arg=ctypes.pointer(counter))
    owner.close()
    assert counter.value == 1
    owner.close()
    assert counter.value == 1


def test_c_release_from_gc_and_dealloc(fake):
    hs = [fake.create_ints(4) for _ in range(50)]
    bufs = [pybuf.wrap(x.ptr, 4, "i", release=fake.lib.fake_destroy, arg=x.h) for x in hs]
    arrays = [np.asarray(b) for b in bufs[::2]]
    del bufs
    gc.collect()
    assert [x.destroys for x in hs] == [0, 1] * 25
    del arrays
    gc.collect()
    assert [x.destroys for x in hs] == [1] * 50


def test_c_release_runs_from_another_thread(fake):
    import threading
    h = fake.create_ints(16)
    buf = pybuf.wrap(h.ptr, 16, "i", release=fake.lib.fake_destroy, arg=h.h)
    box = [np.asarray(buf)]
    del buf

    def drop():
        box.clear()
        gc.collect()

    t = threading.Thread(target=drop)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert h.destroys == 1

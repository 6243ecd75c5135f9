"""Every error row of API.md: exception type, the argument named, nothing leaked."""
import gc

import numpy as np
import pytest

import pybuf
from fakehelp import Calls


@pytest.fixture
def h(fake):
    return fake.create_ints(16)


def live_count():
    gc.collect()
    return len(pybuf.live())


def check_fails(exc_type, argname, fn):
    """fn() raises exc_type naming argname; pybuf.live() is unchanged."""
    before = live_count()
    with pytest.raises(exc_type) as ei:
        fn()
    names = (argname,) if isinstance(argname, str) else argname
    msg = str(ei.value)
    assert any(n in msg for n in names), f"{msg!r} does not name {names}"
    del ei
    assert live_count() == before
    return msg


# --- wrap(): the release never runs when wrap() raises -------------------------

WRAP_BAD = [
    # (exception, argument named, kwargs for wrap)
    (TypeError, "shape", dict(shape="x")),
    (TypeError, "shape", dict(shape=(4, "x"))),
    (TypeError, "shape", dict(shape=4.0)),
    (TypeError, "dtype", dict(dtype=3.5)),
    (TypeError, "address", dict(address="x")),
    (TypeError, "address", dict(address=1.5)),
    (TypeError, "strides", dict(strides="x")),
    (ValueError, "address", dict(address=0)),
    (ValueError, "address", dict(address=-8)),
    (ValueError, "shape", dict(shape=(-1,))),
    (ValueError, "shape", dict(shape=(4, -2))),
    (ValueError, "strides", dict(shape=(2, 2), strides=(4,))),
    (ValueError, "strides", dict(shape=4, strides=(4, 4))),
    (ValueError, "dtype", dict(dtype="Y")),
    (ValueError, "dtype", dict(dtype="T{i:x")),
    (OverflowError, "shape", dict(shape=(2 ** 62, 2 ** 62))),
    (OverflowError, "shape", dict(shape=2 ** 70)),
    (OverflowError, "address", dict(address=2 ** 64 + 5)),
    (OverflowError, ("strides", "shape"), dict(shape=4, strides=(2 ** 62,))),
    (TypeError, "dtype", dict(dtype=np.dtype("M8[s]"))),
    (TypeError, "dtype", dict(dtype="M8[s]")),
    (TypeError, "dtype", dict(dtype=np.dtype("m8[ns]"))),
    (TypeError, "dtype", dict(dtype=object)),
    (TypeError, "dtype", dict(dtype=np.dtype([("a", "<i4"), ("b", object)]))),
    (TypeError, "dtype", dict(dtype=np.dtype([("a", "<i4"), ("t", "M8[us]")]))),
]


def _ids(row):
    return f"{row[0].__name__}-{row[1]}-{'-'.join(f'{k}={v!r}' for k, v in row[2].items())}"


@pytest.mark.parametrize("exc, argname, kw", WRAP_BAD, ids=[_ids(r) for r in WRAP_BAD])
def test_wrap_bad_input_c_release(h, exc, argname, kw):
    args = dict(address=h.ptr, shape=4, dtype="i")
    args.update(kw)
    extra = {k: args.pop(k) for k in list(args) if k not in ("address", "shape", "dtype")}
    check_fails(exc, argname, lambda: pybuf.wrap(args["address"], args["shape"], args["dtype"],
                                                 **h.owner_kwargs(), **extra))
    gc.collect()
    assert h.destroys == 0


@pytest.mark.parametrize("exc, argname, kw", WRAP_BAD, ids=[_ids(r) for r in WRAP_BAD])
def test_wrap_bad_input_python_release(h, exc, argname, kw):
    c = Calls()
    args = dict(address=h.ptr, shape=4, dtype="i")
    args.update(kw)
    extra = {k: args.pop(k) for k in list(args) if k not in ("address", "shape", "dtype")}
    check_fails(exc, argname, lambda: pybuf.wrap(args["address"], args["shape"], args["dtype"],
                                                 release=c, **extra))
    gc.collect()
    assert c.calls == 0


@pytest.mark.parametrize("exc, argname, kw", WRAP_BAD, ids=[_ids(r) for r in WRAP_BAD])
def test_owner_buffer_bad_input(h, exc, argname, kw):
    owner = pybuf.Owner(**h.owner_kwargs())
    args = dict(address=h.ptr, shape=4, dtype="i")
    args.update(kw)
    extra = {k: args.pop(k) for k in list(args) if k not in ("address", "shape", "dtype")}
    with pytest.raises(exc) as ei:
        owner.buffer(args["address"], args["shape"], args["dtype"], **extra)
    names = (argname,) if isinstance(argname, str) else argname
    assert any(n in str(ei.value) for n in names), str(ei.value)
    assert owner.buffers == 0
    assert not owner.closed
    # the owner is still usable and releases normally
    b = owner.buffer(h.ptr, 4, "i")
    assert np.asarray(b).tolist() == [0, 1, 2, 3]
    del b, ei
    owner.close()
    assert h.destroys == 1


def test_zero_size_null_address_is_fine():
    b = pybuf.wrap(0, 0, "i")
    assert b.nbytes == 0
    assert b.shape == (0,)
    assert np.asarray(b).shape == (0,)
    b = pybuf.Owner().buffer(0, (3, 0), "d")
    assert b.nbytes == 0


# --- Owner() arguments ------------------------------------------------------------

def test_owner_release_not_callable(h):
    check_fails(TypeError, "release", lambda: pybuf.Owner(release=42.0))
    check_fails(TypeError, "release", lambda: pybuf.Owner(release="fake_destroy"))
    check_fails(TypeError, "release", lambda: pybuf.wrap(h.ptr, 4, "i", release=42.0))


def test_owner_arg_with_python_callable():
    c = Calls()
    check_fails(TypeError, "arg", lambda: pybuf.Owner(release=c, arg=5))
    check_fails(TypeError, "arg", lambda: pybuf.Owner(release=lambda: None, arg=0))
    check_fails(TypeError, "arg", lambda: pybuf.wrap(0, 0, "i", release=c, arg=5))
    gc.collect()
    assert c.calls == 0
    # arg=None is the default: fine with a Python callable
    o = pybuf.Owner(release=c, arg=None)
    o.close()
    assert c.calls == 1


def test_owner_arg_without_release():
    check_fails(TypeError, "arg", lambda: pybuf.Owner(arg=5))
    check_fails(TypeError, "arg", lambda: pybuf.wrap(0, 0, "i", arg=5))


def test_owner_arg_bad_type(fake, h):
    check_fails(TypeError, "arg", lambda: pybuf.Owner(release=fake.lib.fake_destroy, arg="x"))
    check_fails(TypeError, "arg", lambda: pybuf.Owner(release=fake.lib.fake_destroy, arg=1.5))
    gc.collect()
    assert h.destroys == 0


def test_owner_name_bad_type():
    check_fails(TypeError, "name", lambda: pybuf.Owner(name=3))


def test_owner_keyword_only():
    with pytest.raises(TypeError):
        pybuf.Owner(None, 5)


def test_buffer_keyword_only(h):
    owner = pybuf.Owner()
    with pytest.raises(TypeError):
        owner.buffer(h.ptr, 4, "i", None)


# --- region errors ---------------------------------------------------------------

@pytest.fixture
def parent(h):
    return pybuf.Owner().buffer(h.ptr, 16, "i")


def test_region_outside_parent_value_error(parent):
    check_fails(ValueError, ("offset", "region", "shape", "parent", "extent"),
                lambda: parent.region(60, 2, "i"))
    check_fails(ValueError, ("offset", "region", "shape", "parent", "extent"),
                lambda: parent.region(-4, 2, "i"))


def test_region_huge_offset_overflow(parent):
    check_fails(OverflowError, "offset", lambda: parent.region(2 ** 64 + 4, 1, "i"))
    check_fails((OverflowError, ValueError), ("offset", "region", "parent"),
                lambda: parent.region(2 ** 63 - 1, 1, "i"))
    check_fails(OverflowError, "shape", lambda: parent.region(0, (2 ** 62, 2 ** 62), "B"))


def test_region_bad_types(parent):
    check_fails(TypeError, "offset", lambda: parent.region("x", 2, "i"))
    check_fails(TypeError, "shape", lambda: parent.region(0, "x", "i"))
    check_fails(TypeError, "dtype", lambda: parent.region(0, 2, 3.5))
    check_fails(ValueError, "dtype", lambda: parent.region(0, 2, "Y"))
    check_fails(ValueError, "shape", lambda: parent.region(0, -1, "i"))
    check_fails(ValueError, "strides", lambda: parent.region(0, (2, 2), "i", strides=(4,)))


def test_region_readonly_on_readonly_parent(h):
    p = pybuf.Owner().buffer(h.ptr, 16, "i", readonly=True)
    with pytest.raises(BufferError):
        p.region(0, 4, "i", readonly=False)


# --- alloc errors -------------------------------------------------------------------

def test_alloc_errors():
    check_fails(TypeError, "shape", lambda: pybuf.alloc("x"))
    check_fails(ValueError, "shape", lambda: pybuf.alloc(-1))
    check_fails(TypeError, "dtype", lambda: pybuf.alloc(4, 3.5))
    check_fails(ValueError, "dtype", lambda: pybuf.alloc(4, "Y"))
    check_fails(OverflowError, "shape", lambda: pybuf.alloc((2 ** 62, 2 ** 62)))
    check_fails(TypeError, "dtype", lambda: pybuf.alloc(4, object))
    check_fails(TypeError, "dtype", lambda: pybuf.alloc(4, "M8[s]"))


# --- closed owner errors --------------------------------------------------------

def test_closed_owner_buffer_error(h):
    owner = pybuf.Owner()
    owner.close()
    with pytest.raises(BufferError):
        owner.buffer(h.ptr, 4, "i")


def test_strict_close_error_is_buffer_error(h):
    owner = pybuf.Owner()
    b = owner.buffer(h.ptr, 4, "i")
    with pytest.raises(BufferError):
        owner.close(strict=True)
    del b


# --- the sweep: every public entry point, wrong inputs ------------------------------
# (exception, words of which one must appear in the message, call). Each row also checks
# that pybuf.live() is unchanged and that no release ran.

def _sweep_rows():
    import ctypes
    libc = ctypes.CDLL(None)
    return [
        ("from_buffer-int", TypeError, "obj", lambda b: pybuf.from_buffer(3)),
        ("from_buffer-bytes-writable", BufferError, ("writable", "read-only", "readonly"),
         lambda b: pybuf.from_buffer(b"x", readonly=False)),
        ("from_buffer-name", TypeError, "name", lambda b: pybuf.from_buffer(bytearray(4), name=3)),
        ("load_core-int", TypeError, ("path", "str"), lambda b: pybuf.load_core(3)),
        ("alloc-name", TypeError, "name", lambda b: pybuf.alloc(4, name=3)),
        ("alloc-overflow", OverflowError, "shape", lambda b: pybuf.alloc((2 ** 31,) * 3)),
        ("alloc-huge", MemoryError, ("shape", "bytes"), lambda b: pybuf.alloc(2 ** 57, "d")),   # 2**60 bytes: more than any address space
        ("wrap-ctypes-null", ValueError, "address", lambda b: pybuf.wrap(ctypes.c_void_p(), 4, "i")),
        ("wrap-null-pointer", ValueError, "address",
         lambda b: pybuf.wrap(ctypes.POINTER(ctypes.c_int)(), 4, "i")),
        ("wrap-top-of-memory", OverflowError, "address", lambda b: pybuf.wrap(2 ** 64 - 8, 4, "i")),
        ("wrap-stride-below-zero", ValueError, ("address", "strides"),
         lambda b: pybuf.wrap(4, 4, "i", strides=(-4,))),
        ("wrap-stride-huge-negative", ValueError, ("address", "strides"),
         lambda b: pybuf.wrap(b.address, 2, "i", strides=(-2 ** 63,))),
        ("wrap-stride-2**64", OverflowError, "strides",
         lambda b: pybuf.wrap(b.address, 2, "i", strides=(2 ** 64,))),
        ("wrap-shape-bool", TypeError, "shape", lambda b: pybuf.wrap(b.address, True, "i")),
        ("wrap-shape-nested", TypeError, "shape", lambda b: pybuf.wrap(b.address, ((2,),), "i")),
        ("wrap-shape-2**63", OverflowError, "shape", lambda b: pybuf.wrap(b.address, 2 ** 63, "B")),
        ("wrap-dtype-empty", ValueError, "dtype", lambda b: pybuf.wrap(b.address, 4, "")),
        ("wrap-dtype-zero", ValueError, "dtype", lambda b: pybuf.wrap(b.address, 4, "0i")),
        ("wrap-dtype-None", TypeError, "dtype", lambda b: pybuf.wrap(b.address, 4, None)),
        ("wrap-dtype-open-struct", ValueError, "dtype", lambda b: pybuf.wrap(b.address, 4, "T{")),
        ("owner-release-0", ValueError, "release", lambda b: pybuf.Owner(release=0)),
        ("owner-release-neg", ValueError, "release", lambda b: pybuf.Owner(release=-1)),
        ("owner-release-2**64", OverflowError, "release", lambda b: pybuf.Owner(release=2 ** 64)),
        ("owner-release-object", TypeError, "release", lambda b: pybuf.Owner(release=object())),
        ("owner-arg-neg", ValueError, "arg", lambda b: pybuf.Owner(release=libc.free, arg=-1)),
        ("owner-arg-2**64", OverflowError, "arg",
         lambda b: pybuf.Owner(release=libc.free, arg=2 ** 64)),
        ("owner-init-twice", TypeError, "__init__",
         lambda b: pybuf.Owner.__init__(b.owner, name="again")),
        ("buffer-class-not-instantiable", TypeError, ("Buffer", "instances", "create"),
         lambda b: type(b)()),
        ("region-bool-offset", TypeError, "offset", lambda b: b.region(True, 4)),
        ("region-stride-2**63", OverflowError, "strides",
         lambda b: b.region(0, 4, "i", strides=(2 ** 63,))),
        ("region-negative-stride-out", ValueError, ("region", "parent", "strides"),
         lambda b: b.region(0, 4, "i", strides=(-4,))),
        ("dlpack-max_version", TypeError, "max_version", lambda b: b.__dlpack__(max_version="x")),
        ("dlpack-stream", ValueError, "stream", lambda b: b.__dlpack__(stream=1)),
        ("dlpack-device", BufferError, "dl_device", lambda b: b.__dlpack__(dl_device=(2, 0))),
        ("dlpack-device-type", TypeError, "dl_device", lambda b: b.__dlpack__(dl_device="x")),
    ]


_SWEEP = _sweep_rows()


@pytest.mark.parametrize("row", _SWEEP, ids=[r[0] for r in _SWEEP])
def test_bad_input_sweep(h, row):
    _, exc, names, fn = row
    c = Calls()
    b = pybuf.wrap(h.ptr, 16, "i", release=c, name="sweep-subject")
    check_fails(exc, names, lambda: fn(b))
    gc.collect()
    assert c.calls == 0 and h.destroys == 0
    assert not b.owner.closed and np.asarray(b)[3] == 3   # the subject still works
    del b
    gc.collect()
    assert c.calls == 1

"""Helpers shared by the pybuf tests and by the snippets they run in subprocesses.

Nothing here imports pybuf or NumPy, so a subprocess can load the fake library
before deciding whether to import pybuf.
"""
import ctypes
import os
import subprocess
import sys
import textwrap

ENV_LIB = "PYBUF_TEST_FAKELIB"
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(TESTS_DIR, "clib", "fakelib.c")


def compile_fakelib(outdir):
    out = os.path.join(str(outdir), "libfake.so")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", out, SOURCE, "-lpthread", "-ldl"],
                   check=True, timeout=120)
    return out


CONSUMER_SOURCE = os.path.join(TESTS_DIR, "clib", "dlpack_consumer.c")
DLPACK_H_DIR = os.path.join(os.path.dirname(TESTS_DIR), "pybuf", "capi")  # dlpack.h


def load_dlpack_consumer(outdir):
    """The C DLPack consumer (clib/dlpack_consumer.c), compiled into `outdir` and
    loaded with ctypes.CDLL, so the GIL is released during each call."""
    import ctypes

    out = os.path.join(str(outdir), "libconsumer.so")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-I", DLPACK_H_DIR,
                    "-o", out, CONSUMER_SOURCE, "-lpthread"], check=True, timeout=120)
    lib = ctypes.CDLL(out)
    lib.consumer_sum_int32.restype = ctypes.c_longlong
    lib.consumer_flags.restype = ctypes.c_uint64
    for f in (lib.consumer_sum_int32, lib.consumer_flags, lib.consumer_delete_on_thread,
              lib.consumer_delete_later):
        f.argtypes = [ctypes.c_void_p]
    return lib


# PyCapsule_SetName keeps the pointer, not a copy: the new names must outlive every
# capsule, as a C consumer's string literals do (a temporary bytes was freed under it).
USED_NAMES = {b"dltensor_versioned": b"used_dltensor_versioned", b"dltensor": b"used_dltensor"}


def take(capsule, name=b"dltensor_versioned"):
    """What a DLPack consumer does: take the tensor and rename the capsule as used."""
    import ctypes

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    rename = ctypes.pythonapi.PyCapsule_SetName
    rename.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(capsule, name)
    assert rename(capsule, USED_NAMES[name]) == 0
    return ptr


class Handle:
    """One fake library handle: `h` (int handle), `ptr` (int data address)."""

    def __init__(self, fake, nbytes, tail=False):
        self.fake = fake
        self.lib = fake.lib
        create = self.lib.fake_create_tail if tail else self.lib.fake_create
        self.h = create(nbytes)
        assert self.h, "fake_create failed"
        self.ptr = self.lib.fake_data(self.h)
        self.nbytes = nbytes

    @property
    def destroys(self):
        return self.lib.fake_destroy_count(self.h)

    @property
    def alive(self):
        return self.destroys == 0

    def _check(self):
        # Never touch destroyed memory: that would kill the test process.
        n = self.destroys
        if n:
            raise AssertionError(f"fake handle destroyed {n} time(s) while still in use")

    def read(self, i, ctype=ctypes.c_int32):
        self._check()
        return ctype.from_address(self.ptr + i * ctypes.sizeof(ctype)).value

    def write(self, i, value, ctype=ctypes.c_int32):
        self._check()
        ctype.from_address(self.ptr + i * ctypes.sizeof(ctype)).value = value

    def ints(self, n=None, start=0):
        self._check()
        n = self.nbytes // 4 if n is None else n
        return list((ctypes.c_int32 * n).from_address(self.ptr + 4 * start))

    def owner_kwargs(self):
        """Owner(**kw) whose release is the library's C destroy of this handle."""
        return dict(release=self.lib.fake_destroy, arg=self.h)


class Fake:
    def __init__(self, path, strict=True):
        self.path = path
        lib = ctypes.CDLL(path)
        vp = ctypes.c_void_p
        for name, res, args in [
            ("fake_create", vp, [ctypes.c_size_t]),
            ("fake_create_tail", vp, [ctypes.c_size_t]),
            ("fake_data", vp, [vp]),
            ("fake_nbytes", ctypes.c_size_t, [vp]),
            ("fake_page_size", ctypes.c_size_t, []),
            ("fake_destroy", None, [vp]),
            ("fake_free_data", None, [vp]),
            ("fake_destroy_count", ctypes.c_int, [vp]),
            ("fake_total_destroys", ctypes.c_long, []),
            ("fake_live", ctypes.c_long, []),
            ("fake_null_frees", ctypes.c_long, []),
            ("fake_set_strict", None, [ctypes.c_int]),
            ("fake_count_arg", None, [vp]),
            ("fake_destroy_indirect", None, [vp]),
            ("fake_destroy_gil_probe", None, [vp]),
            ("fake_last_gil_state", ctypes.c_int, []),
            ("fake_token_init", None, [vp, ctypes.c_uint64]),
            ("fake_token_new", vp, [ctypes.c_uint64]),
            ("fake_token_release", None, [vp]),
            ("fake_destroy_token", None, [vp]),
            ("fake_token_releases", ctypes.c_long, [ctypes.c_uint64]),
            ("fake_token_bad", ctypes.c_long, []),
            ("fake_token_nulls", ctypes.c_long, []),
        ]:
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        lib.fake_set_strict(1 if strict else 0)
        self.lib = lib
        self.page_size = lib.fake_page_size()

    def create(self, nbytes, tail=False):
        return Handle(self, nbytes, tail=tail)

    def create_ints(self, n, tail=False):
        return Handle(self, 4 * n, tail=tail)

    def total_destroys(self):
        return self.lib.fake_total_destroys()

    def null_frees(self):
        return self.lib.fake_null_frees()


def load_fake(path=None, strict=True):
    return Fake(path or os.environ[ENV_LIB], strict=strict)


class Calls:
    """A Python release callable that counts its calls (and can raise)."""

    def __init__(self, exc=None, then=None):
        self.calls = 0
        self.exc = exc
        self.then = then

    def __call__(self):
        self.calls += 1
        if self.then is not None:
            self.then()
        if self.exc is not None:
            raise self.exc


PRELUDE = """\
import os, sys, gc, ctypes
sys.path.insert(0, {tests_dir!r})
from fakehelp import load_fake, Calls
fake = load_fake()
"""

PRELUDE_PYBUF = PRELUDE + """\
import numpy as np
import pybuf
"""


def run_isolated(code, timeout=60, *, prelude=True, import_pybuf=True, env=None, args=()):
    """Run `code` in a fresh interpreter (`sys.executable -c`).

    The fake library path is in $PYBUF_TEST_FAKELIB; with `prelude` the snippet
    starts with `fake` loaded (strict: a double destroy aborts) and, with
    `import_pybuf`, `np` and `pybuf` imported.  Returns (returncode, stdout, stderr);
    a SIGSEGV shows as returncode -11, abort() as -6.
    """
    body = textwrap.dedent(code)
    if prelude:
        pre = PRELUDE_PYBUF if import_pybuf else PRELUDE
        body = pre.format(tests_dir=TESTS_DIR) + body
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        p = subprocess.run([sys.executable, "-c", body, *args], capture_output=True,
                           text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"subprocess timed out after {timeout}s\n"
                             f"--- stdout\n{out}\n--- stderr\n{err}")
    return p.returncode, p.stdout, p.stderr


def describe(rc, out, err):
    return f"returncode={rc}\n--- stdout\n{out}\n--- stderr\n{err}"

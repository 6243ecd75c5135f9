"""The parts of a binding's wrapper cycle that the state machine (test_statemachine.py),
the exit script (exit_cycles_script.py) and the isolated exit and lifetime tests build."""
import ctypes
import pickle

import numpy as np

import pybuf


class ViewWrapper:
    """A binding's wrapper over 16 ints of the fake library: its owner's release is
    the wrapper's own `release` method (a subclass writes it), and it keeps a
    memoryview of its buffer, so the owner has an export when the wrapper dies."""

    def __init__(self, fake):
        self.h = fake.create_ints(16)
        self.owner = pybuf.Owner(release=self.release)
        self.buf = self.owner.buffer(self.h.ptr, 16, "i")
        self.view = memoryview(self.buf)

    def release(self):
        raise NotImplementedError


class CallableRelease:
    """A callable object over the wrapper, with a __del__ of its own."""

    def __init__(self, w):
        self.w = w

    def __call__(self):
        self.w.release()

    def __del__(self):
        self.finalized = True   # runs with the cycle's other finalizers, before the release


def hold(w, holds, n, dtype):
    """Makes `w` hold w.buf (n elements of dtype) the way `holds` names, then closes the
    cycle (w.me)."""
    if holds == "memoryview":
        w.view = memoryview(w.buf)
    elif holds == "mv_slice":
        w.view = memoryview(w.buf)[2:]
    elif holds == "ndarray":
        w.view = np.asarray(w.buf)
    elif holds == "ndarray_buffer":
        w.view = np.ndarray((n,), dtype, buffer=w.buf)
    elif holds == "ctypes":
        w.view = (np.ctypeslib.as_ctypes_type(dtype) * n).from_buffer(w.buf)
    elif holds == "dlpack_capsule":
        w.capsule = w.buf.__dlpack__()
    elif holds == "picklebuffer":
        w.view = pickle.PickleBuffer(w.buf)
    w.me = w
    return w

"""The parts of a binding's wrapper cycle that the state machine (test_statemachine.py)
and the exit script (exit_cycles_script.py) both build."""
import ctypes
import pickle

import numpy as np


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

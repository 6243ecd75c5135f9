# released at exit: a release defined in the main script and a module-level memoryview of its
# buffer: the release runs during interpreter finalization, while it can still run.
import ctypes, os, pybuf
arr = (ctypes.c_ubyte * 8)()
def release():
    os.write(1, b"released at exit\n")
m = memoryview(pybuf.wrap(arr, 8, release=release, name="module-level"))

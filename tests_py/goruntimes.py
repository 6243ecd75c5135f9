"""The Go runtimes loaded in this process, for the Go tests' child processes
(test_goext.py, test_gostats.py): every mapped library that defines the symbol
every Go shared library defines, by its real path."""
import ctypes
import os

GO_RUNTIME_MARKER = "_cgo_wait_runtime_init_done"


def go_runtimes():
    found = set()
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if ".so" not in path or not os.path.exists(path) or os.path.realpath(path) in found:
            continue
        try:
            h = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        if hasattr(h, GO_RUNTIME_MARKER):
            found.add(os.path.realpath(path))
    return sorted(found)

"""Test builds of the C shim: the installed pybuf package copied into a directory, its
extension recompiled from cshim/ with the shim's assert()s on (no NDEBUG) and whatever
macros and flags the caller adds.

The Go core is the installed one, copied alongside (the shim loads the `_pybuf_core.so`
next to itself). Put the directory first on PYTHONPATH to run against the build.
Used by test_faults.py (planted faults, PYBUF_FAULT=n) and by the sanitizer leg
(tests_py/sanitize/run.py: AddressSanitizer and UndefinedBehaviorSanitizer) and by the
ThreadSanitizer leg (tests_py/sanitize/tsan.py).

Nothing here imports pybuf in the calling process: the installed package is found
through importlib, so a runner can build before anything is loaded.
"""
import importlib.util
import os
import shutil
import subprocess
import sysconfig

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS_DIR)
CSHIM = os.path.join(ROOT, "cshim")


def installed_package():
    """The directory of the pybuf package this interpreter would import."""
    spec = importlib.util.find_spec("pybuf")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pybuf is not installed in this interpreter (make install)")
    return list(spec.submodule_search_locations)[0]


def build_shim(dest, *, defines=(), cflags=("-O2",), ldflags=(), source=None):
    """Copy the installed package to dest/pybuf and rebuild its extension there.

    `defines` are NAME or NAME=VALUE macros; `cflags` and `ldflags` go to the compiler
    and linker (both cc). `source` is the installed package to copy (default: this
    interpreter's). Returns `dest`.
    """
    pkg = os.path.join(str(dest), "pybuf")
    shutil.copytree(source or installed_package(), pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    ext = [f for f in os.listdir(pkg) if f.startswith("_pybuf.") and f.endswith(".so")]
    assert len(ext) == 1, ext
    sources = sorted(os.path.join(CSHIM, f) for f in os.listdir(CSHIM) if f.endswith(".c"))
    cmd = [os.environ.get("CC", "cc"), "-shared", "-fPIC", *cflags, "-std=gnu11",
           *(f"-D{d}" for d in defines), "-UNDEBUG", "-I", sysconfig.get_paths()["include"],
           "-I", os.path.join(ROOT, "pybuf", "capi"), *sources, "-ldl", *ldflags,
           "-o", os.path.join(pkg, ext[0])]
    p = subprocess.run(cmd, timeout=600, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"building the shim failed: {' '.join(cmd)}\n{p.stderr}")
    return str(dest)


def build_sanitized(build_dir, *, cflags, ldflags):
    """A fresh sanitizer build in build_dir (emptied first) for the sanitizer runners
    (tests_py/sanitize/): the fault the PYBUF_FAULT environment variable names, if any,
    planted in it."""
    if os.path.isdir(build_dir):
        shutil.rmtree(build_dir)
    os.makedirs(build_dir)
    fault = os.environ.get("PYBUF_FAULT", "")
    defines = [f"PYBUF_FAULT={fault}"] if fault.isdigit() else []
    return build_shim(build_dir, defines=defines, cflags=cflags, ldflags=ldflags)

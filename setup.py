"""Builds pybuf: the Go core (a c-shared library) and the C extension.

`pip install .` needs Go (see go.mod for the version) and a C compiler.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
CORE = "_pybuf_core.so"


class BuildWithGo(build_ext):
    """Builds the Go core next to the extension, then the extension."""

    def run(self):
        go = shutil.which("go")
        if go is None:
            sys.exit(
                "pybuf: building from source needs the Go toolchain (go >= 1.26) on PATH; "
                "install Go from https://go.dev/dl/ or install a pybuf wheel instead"
            )
        out_dir = os.path.join(os.path.abspath(self.build_lib), "pybuf")
        os.makedirs(out_dir, exist_ok=True)
        target = os.path.join(out_dir, CORE)
        env = dict(os.environ, CGO_ENABLED="1")
        subprocess.check_call(
            [go, "build", "-trimpath", "-buildmode=c-shared", "-o", target, "./pybuf/cmd/pybufcore"],
            cwd=ROOT,
            env=env,
        )
        header = os.path.splitext(target)[0] + ".h"
        if os.path.exists(header):
            os.remove(header)  # cgo's generated header: the shim uses pybuf/capi/pybuf_core.h
        if self.inplace:
            shutil.copy2(target, os.path.join(ROOT, "python", "pybuf", CORE))
        super().run()


# Test-only: plants one of the faults listed in cshim/shim.h (PYBUF_FAULT=1..3).
FAULT = os.environ.get("PYBUF_FAULT", "")
define_macros = [("PYBUF_FAULT", FAULT)] if FAULT.isdigit() else []

ext = Extension(
    "pybuf._pybuf",
    sources=sorted(os.path.join("cshim", f) for f in os.listdir(os.path.join(ROOT, "cshim")) if f.endswith(".c")),
    include_dirs=["pybuf/capi"],
    depends=["cshim/shim.h", "pybuf/capi/pybuf_core.h"],
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    libraries=["dl"],
    define_macros=define_macros,
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildWithGo})

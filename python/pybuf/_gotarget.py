"""The platform pybuf.gobuild builds a Go module's library for (docs/PACKAGING.md).

``PYBUF_GO_TARGET=ARCH-linux-gnu.GLIBC`` (ARCH ``x86_64`` or ``aarch64``, e.g.
``aarch64-linux-gnu.2.17``) builds the library with zig (PyPI's ``ziglang``,
installed where the build runs) as cgo's C compiler for that architecture and
glibc version, with the matching ``GOARCH``, and tags the wheel ``linux_ARCH``;
``auditwheel repair`` then gives it its manylinux tag. Unset, the library is
built by this machine's Go and C compiler for this machine, as before. The
stubs program gobuild runs at build time is always built for this machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import sys

ENV = "PYBUF_GO_TARGET"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_TARGET = re.compile(r"(x86_64|aarch64)-linux-gnu\.2\.[0-9]+")


def target() -> str | None:
    """The zig target PYBUF_GO_TARGET names, or None when it is unset or empty."""
    value = os.environ.get(ENV, "")
    if not value:
        return None
    if not _TARGET.fullmatch(value):
        raise ValueError(f"{ENV}={value!r}: expected ARCH-linux-gnu.2.N with ARCH x86_64 or aarch64, "
                         "e.g. aarch64-linux-gnu.2.17")
    return value


def set_wheel_platform() -> None:
    """With a target, the wheel's platform is its architecture's (setuptools reads
    _PYTHON_HOST_PLATFORM, CPython's cross-build setting, when it names the wheel)."""
    t = target()
    if t is not None:
        os.environ["_PYTHON_HOST_PLATFORM"] = "linux-" + t.split("-")[0]


def library_env() -> dict[str, str]:
    """The environment ``go build`` builds the library in."""
    env = dict(os.environ, CGO_ENABLED="1")
    t = target()
    if t is None:
        return env
    if importlib.util.find_spec("ziglang") is None:
        sys.exit(f"pybuf.gobuild: {ENV}={t} builds with zig: pip install ziglang where the build runs")
    env["GOARCH"] = GOARCH[t.split("-")[0]]
    env["CC"] = shlex.join([sys.executable, "-m", "ziglang", "cc", "-target", t])
    return env

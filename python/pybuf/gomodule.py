"""Go modules at run time: Python modules whose functions are Go functions.

A Go package registers its functions with pybuf/pymod; ``pybuf.gobuild``
builds it, with pybuf's Go core, into one c-shared library inside a Python
package, whose generated ``__init__.py`` calls :func:`load`. The library is
the process's one Go runtime and pybuf's core, so pybuf must load it rather
than its own core, whichever is imported first: an installed Go module
announces its library in the entry point group ``pybuf.go_library``
(``name = package:library_file``), which pybuf reads at its first use.
"""

from __future__ import annotations

import os
from typing import Any

from . import _pybuf

ENTRY_POINT_GROUP = "pybuf.go_library"


def announced_library() -> str | None:
    """The Go library an installed Go module announces, or None.

    Called by the core loader at pybuf's first use, unless ``load_core`` or
    ``PYBUF_CORE`` chose a library. With several announced libraries the
    first by entry-point name wins; importing a module of another one then
    raises ImportError saying how to build them into one. An entry point that
    names a file pybuf must not load (see :func:`checked_library`) is skipped
    with a warning: one broken distribution must not stop pybuf for everyone.
    """
    from importlib.metadata import entry_points

    try:
        eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value))
    except Exception:  # broken metadata of some distribution must not stop pybuf
        return None
    for ep in eps:
        path = checked_library(ep)
        if path is not None and built_abi(path) == _pybuf._core_abi():
            return path
    return None


class LibraryRefused(Exception):
    """Why an announced library is not loaded (the text of the warning)."""


def checked_library(ep: Any) -> str | None:
    """The library file an entry point announces, if pybuf may load it; None
    (with a RuntimeWarning saying why, where it names a file) otherwise.

    Any folder on ``sys.path`` can hold a ``*.dist-info`` (the current
    directory is there for ``python -c``), and dlopen runs a library's
    constructors before anything can check it: so the library must be a file
    of its own distribution that pybuf.gobuild built. That is, a relative path
    without ``..`` that stays inside the distribution's root once symbolic
    links are resolved, listed in the distribution's RECORD when it has one,
    with the manifest pybuf.gobuild writes next to it.
    """
    dist = ep.dist
    try:
        root = dist.locate_file("") if dist is not None else None
    except Exception:
        return None
    if root is None:
        return None
    try:
        return _confined_library(ep.value, str(root), dist)
    except LibraryRefused as e:
        import warnings

        try:
            name = dist.metadata["Name"]
        except Exception:  # a distribution too broken to name itself
            name = None
        warnings.warn(f"pybuf: not loading the Go library {ep.value!r} that distribution {name!r} announces "
                      f"(entry point {ep.name!r} in {ENTRY_POINT_GROUP}): {e}", RuntimeWarning, stacklevel=2)
        return None


def _confined_library(value: str, root: str, dist: Any) -> str:
    rel = library_relpath(value)
    path = os.path.join(root, *rel.split("/"))
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise LibraryRefused(f"{path} resolves to {real}, outside the distribution's root {real_root}")
    if not os.path.isfile(real):
        raise LibraryRefused(f"{path} is not a file")
    try:
        files = dist.files
    except Exception as e:  # a malformed RECORD
        raise LibraryRefused(f"its RECORD cannot be read ({e})") from None
    if files is not None and rel not in {str(f).replace(os.sep, "/") for f in files}:
        raise LibraryRefused(f"{rel} is not one of the distribution's files (RECORD)")
    if built_abi(path) is None:
        raise LibraryRefused(f"no {MANIFEST_FILE} next to it: pybuf.gobuild did not build it")
    return path


def library_relpath(value: str) -> str:
    """The '/'-separated path, relative to its distribution's root, that an
    entry point value ``package.sub:file`` names; LibraryRefused when it is no
    such path (an absolute path, a '..', a package that is not dotted names)."""
    package, sep, filename = value.partition(":")
    if not sep or not package or not filename:
        raise LibraryRefused("the value is not 'package:file'")
    if not all(part.isidentifier() for part in package.split(".")):
        raise LibraryRefused(f"{package!r} is not a dotted package name")
    if filename.startswith("/") or os.path.isabs(filename):
        raise LibraryRefused(f"{filename!r} is an absolute path; the library must be inside its package")
    parts = filename.replace(os.sep, "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise LibraryRefused(f"{filename!r} leaves its package ('..', '.' or an empty part)")
    return "/".join([*package.split("."), *parts])


# Written by pybuf.gobuild next to the library: {"abi": ..., "core_version": ..., "modules": [...]}.
MANIFEST_FILE = "_pybuf_go.json"


def built_abi(library: str) -> int | None:
    """The core ABI a Go module's library embeds, from the manifest pybuf.gobuild
    writes next to it (None when there is none): read without loading it."""
    import json

    try:
        with open(os.path.join(os.path.dirname(library), MANIFEST_FILE)) as f:
            abi = json.load(f).get("abi")
    except (OSError, ValueError, AttributeError):
        return None
    return abi if isinstance(abi, int) else None


def load(name: str, namespace: dict[str, Any], library: str) -> None:
    """Fills a module's namespace with the Go functions registered as ``name``.

    ``library`` is the c-shared library's file name, next to the module's
    ``__init__.py``. Raises ImportError when that library was built for
    another core ABI, cannot be this process's Go runtime, or does not hold
    the module.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(namespace["__file__"])), library)
    abi = built_abi(path)
    if abi is not None and abi != _pybuf._core_abi():
        raise ImportError(
            f"cannot import {name}: its Go library {path} embeds pybuf's Go core ABI {abi}, and the "
            f"installed pybuf needs ABI {_pybuf._core_abi()}: rebuild {name} against this pybuf "
            f"(pip install --force-reinstall --no-binary :all: of its project, or pip install . in it)")
    doc, funcs = _pybuf._go_module(name, path)
    namespace.update(funcs)
    namespace["__all__"] = sorted(funcs)
    if doc and not namespace.get("__doc__"):
        namespace["__doc__"] = doc


_numpy: Any = None  # numpy, imported at the first array result; False: not installed

# NumPy reads a record format ("T{=i:id:4xd:x:}") in Python, ~20 us each
# time: the dtype of each record format is kept (a bounded number).
_record_dtypes: dict[str, Any] = {}


def _as_array(buffer: Any) -> Any:
    """How an exported Go slice reaches Python (the shim calls this once per
    array result): a NumPy array over it, or the pybuf.Buffer itself where
    NumPy is not installed. NumPy is imported here, not at `import mymod`."""
    global _numpy
    if _numpy is None:
        try:
            import numpy

            _numpy = numpy
        except ImportError:
            _numpy = False
    np = _numpy
    if np is False:
        return buffer
    fmt = buffer.format
    if not fmt.startswith("T{") or not buffer.c_contiguous:
        return np.asarray(buffer)
    dtype = _record_dtypes.get(fmt)
    if dtype is None:
        dtype = np.asarray(buffer).dtype
        if len(_record_dtypes) < 256:
            _record_dtypes[fmt] = dtype
    return np.frombuffer(buffer, dtype).reshape(buffer.shape)

def selfcheck(names: list[str]) -> list[str]:
    """Imports each Go module and checks it runs as this process's pybuf core."""
    import importlib

    failures: list[str] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            failures.append(f"import {name}: {e}")
            print(f"  [FAIL] import {name}: {e}")
            continue
        funcs = list(getattr(module, "__all__", []))
        ok = bool(funcs) and all(callable(getattr(module, f, None)) for f in funcs)
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {len(funcs)} Go functions ({', '.join(funcs)})")
        if not ok:
            failures.append(f"{name}: no Go functions")
    info = _pybuf._core_info()
    print(f"  pybuf core {info['version']}, loaded: {info['loaded']}")
    return failures


def _main(argv: list[str]) -> int:
    from importlib.metadata import entry_points

    names = argv or sorted({ep.value.partition(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)})
    if not names:
        print("no Go module is installed (entry point group pybuf.go_library)")
        return 1
    print(f"Go modules: {', '.join(names)}; announced library: {announced_library()}")
    return 1 if selfcheck(names) else 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))


def _exception_class(qualname: str) -> type[BaseException] | None:
    """The exception class a Go error names (pymod.Class), or None when it
    does not import or is no exception class: the error then raises its
    fallback. The longest importable module prefix is the module; the rest
    are attributes ("numpy.linalg.LinAlgError", "pkg.mod.Outer.Inner")."""
    import importlib

    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except Exception:  # not a module, or one that fails to import: a shorter prefix may be
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return obj
        return None
    return None


def _callback_array(data: bytearray, fmt: str) -> Any:
    """A Go slice as a Python callable given for a Go func parameter sees it:
    a writable array over ``data``, a copy the shim writes back into the
    slice after the callable returns."""
    try:
        import numpy as np
    except ImportError:
        return memoryview(data).cast(fmt)
    return np.frombuffer(data, dtype=np.dtype(fmt))

"""Go modules at run time: Python modules whose functions are Go functions.

A Go package registers its functions with pybuf/pymod; ``pybuf.gobuild``
builds it, with pybuf's Go core, into one c-shared library inside a Python
package, whose generated ``__init__.py`` calls :func:`load`. The library is
the process's one Go runtime and pybuf's core, so pybuf must load it rather
than its own core, whichever is imported first: an installed Go module
announces its library in the entry point group ``pybuf.go_library``
(``name = package:library_file``), which pybuf reads at its first use.
Separately built Go modules share a process through a bundle
(pybuf.gobundle), which then is the library of every module it holds.
"""

from __future__ import annotations

import os
from typing import Any

from . import _pybuf

ENTRY_POINT_GROUP = "pybuf.go_library"
# The one library `python -m pybuf.gobuild bundle` builds from every installed
# Go module (pybuf.gobundle): when it is installed, it is the process's core.
BUNDLE_GROUP = "pybuf.go_bundle"
BUNDLE_COMMAND = "python -m pybuf.gobuild bundle"


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    try:
        return sorted(entry_points(group=group), key=lambda e: (e.name, e.value))
    except Exception:  # broken metadata of some distribution must not stop pybuf
        return []


def installed_bundle() -> tuple[str, dict[str, Any]] | None:
    """The Go bundle's library and manifest, when exactly one valid bundle is
    installed (a bundle pybuf must not load is skipped with a warning)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for ep in _entry_points(BUNDLE_GROUP):
        path = checked_library(ep)
        manifest = read_manifest(path) if path is not None else None
        if path is not None and manifest is not None:
            found.append((path, manifest))
    if len(found) > 1:
        import warnings

        warnings.warn(f"pybuf: several Go bundles are installed ({', '.join(p for p, _ in found)}); loading "
                      f"none. Uninstall them (pip uninstall pybuf-go-bundle) and run {BUNDLE_COMMAND}",
                      RuntimeWarning, stacklevel=2)
        return None
    return found[0] if found else None


def announced_library() -> str | None:
    """The Go library pybuf loads as its core at its first use, or None (its own core).

    Called by the core loader at pybuf's first use, unless ``load_core`` or
    ``PYBUF_CORE`` chose a library. The installed bundle (``python -m
    pybuf.gobuild bundle``) wins; otherwise the one library that installed Go
    modules announce for this pybuf's core ABI. Of several, none is chosen:
    the choice would rest on nothing the user did (package names), and each
    can only be the core of a process that imports no other Go module; the
    import of one then raises ImportError naming the bundle command. An entry
    point that names a file pybuf must not load (see :func:`checked_library`)
    is skipped with a warning: one broken distribution must not stop pybuf
    for everyone.
    """
    bundle = installed_bundle()
    if bundle is not None:
        return bundle[0] if bundle[1].get("abi") == _pybuf._core_abi() else None
    libraries = [path for path in map(checked_library, _entry_points(ENTRY_POINT_GROUP))
                 if path is not None and built_abi(path) == _pybuf._core_abi()]
    return libraries[0] if len(libraries) == 1 else None


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


# Written by pybuf.gobuild next to the library: {"abi": ..., "core_version": ..., "modules": [...],
# "source": {"dir": SOURCE_DIR, "digest": ..., "packages": {module: Go package}}}; a bundle's
# has "bundle": {module: {"dist": ..., "digest": ...}} instead of "source".
MANIFEST_FILE = "_pybuf_go.json"
LIBRARY_FILE = "_pybuf_go.so"     # a Go module's library, and a bundle's
SOURCE_DIR = "_pybuf_go_src"      # next to it: the Go module's source, which a bundle is built from


def read_manifest(library: str) -> dict[str, Any] | None:
    """The manifest pybuf.gobuild writes next to a library (None when there is
    none, or it is no JSON object): read without loading the library."""
    import json

    try:
        with open(os.path.join(os.path.dirname(library), MANIFEST_FILE)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def built_abi(library: str) -> int | None:
    """The core ABI a Go module's library embeds, from its manifest."""
    abi = (read_manifest(library) or {}).get("abi")
    return abi if isinstance(abi, int) and not isinstance(abi, bool) else None


def bundled_library(name: str, own_library: str) -> str:
    """The library module ``name`` loads from: the installed bundle's, when
    one is installed, else its own (``own_library``). A bundle that lacks the
    module, or holds another version of its source, raises ImportError naming
    the bundle command: the process's Go library is the bundle, whatever is
    imported first."""
    bundle = installed_bundle()
    if bundle is None:
        return own_library
    path, manifest = bundle
    held = manifest.get("bundle")
    entry = held.get(name) if isinstance(held, dict) else None
    source = (read_manifest(own_library) or {}).get("source")
    digest = source.get("digest") if isinstance(source, dict) else None
    if not isinstance(entry, dict):
        why = "does not hold it"
    elif manifest.get("abi") != _pybuf._core_abi():
        why = f"embeds pybuf's Go core ABI {manifest.get('abi')}, the installed pybuf needs {_pybuf._core_abi()}"
    elif digest is None or entry.get("digest") != digest:
        why = "was built from another version of its Go source"
    else:
        return path
    raise ImportError(f"cannot import {name}: the installed Go bundle {path} {why}. Rebuild the bundle "
                      f"from every installed Go module: {BUNDLE_COMMAND}")


def load(name: str, namespace: dict[str, Any], library: str) -> None:
    """Fills a module's namespace with the Go functions registered as ``name``.

    ``library`` is the c-shared library's file name, next to the module's
    ``__init__.py``; with a bundle installed, the bundle's library is used
    instead (:func:`bundled_library`). Raises ImportError when that library
    was built for another core ABI, cannot be this process's Go runtime, or
    does not hold the module.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(namespace["__file__"])), library)
    path = bundled_library(name, path)
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

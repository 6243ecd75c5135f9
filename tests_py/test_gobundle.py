"""Two Go modules built separately, one process: `python -m pybuf.gobuild bundle`.

examples/gotext and examples/govec are two Go modules, each with its own
go.mod after `go mod tidy` (so neither go.sum has golang.org/x/sys, which
pybuf's core imports). Each is built into a wheel on its own; both go into one
brand-new virtualenv with a pybuf wheel built from this checkout. There the
second Go module imported raises ImportError naming the bundle command; after
the command both work in one Go runtime, in either order, with or without
pybuf used first. The wheels and the virtualenv are built once per run.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from checkout_copy import checkout_copy
from fakehelp import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("gotext", "govec")
COMMAND = "python -m pybuf.gobuild bundle"

# Run in the fresh virtualenv: what each module gives, and the Go runtimes loaded.
PRELUDE = """
import array, json, os, sys
from goruntimes import go_runtimes
def use(name):
    m = __import__(name)
    if name == "gotext":
        return [m.words("zero-copy  from Go"), m.title("go on")]
    d = array.array("d", [1.0, 2.0, 3.0])
    return [m.dot(d, d), memoryview(m.cumsum(d)).tolist()]
def done(**kw):
    print(json.dumps(kw))
"""
EXPECTED = {"gotext": [3, "Go On"], "govec": [14.0, [1.0, 3.0, 6.0]]}


def run(cmd, timeout=600, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert p.returncode == 0, describe(p.returncode, p.stdout, p.stderr)
    return p.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A new virtualenv holding the pybuf, gotext and govec wheels, each built
    here on its own (pip wheel, as a user builds them)."""
    assert shutil.which("go") is not None, "building Go modules needs the Go toolchain on PATH"
    started = time.monotonic()
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    root = checkout_copy(tmp_path_factory.mktemp("src") / "pybuf")  # legs run side by side
    for project in (root, *(os.path.join(root, "examples", m) for m in MODULES)):
        run([*pip, "wheel", "--no-build-isolation", "--no-deps", "-w", str(wheels), project])
    env_dir = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(env_dir)])
    python = str(env_dir / "bin" / "python")
    run([python, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-index", "--no-deps",
         *map(str, sorted(wheels.glob("*.whl")))])
    print(f"\n[gobundle] three wheels and a virtualenv: {time.monotonic() - started:.1f} s")
    return python


def in_venv(python, code, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYBUF_CORE", "PYTHONPATH")}
    env["PYTHONPATH"] = HERE  # goruntimes
    out = run([python, "-c", PRELUDE + textwrap.dedent(code)], timeout=120, env=env, cwd=cwd)
    return json.loads(out.strip().splitlines()[-1])


def bundle_installed(python):
    p = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "show", "-q", "pybuf-go-bundle"],
                       capture_output=True, text=True)
    return p.returncode == 0


@pytest.fixture
def separate(venv):
    """The virtualenv without a bundle: two Go libraries."""
    if bundle_installed(venv):
        run([venv, "-m", "pip", "--disable-pip-version-check", "-q", "uninstall", "-y", "pybuf-go-bundle"])
    return venv


def run_bundle_command(python, cwd):
    started = time.monotonic()
    out = run([python, "-m", "pybuf.gobuild", "bundle"], cwd=cwd)
    print(f"\n[gobundle] {COMMAND}: {time.monotonic() - started:.1f} s")
    return out


@pytest.fixture
def bundled(venv, tmp_path):
    """The virtualenv after the command."""
    if not bundle_installed(venv):
        run_bundle_command(venv, tmp_path)
    return venv


def test_the_examples_go_sums_lack_what_only_pybufs_core_imports():
    # The tidy path: what `go mod tidy` leaves, and the wheels below still build.
    for m in MODULES:
        with open(os.path.join(ROOT, "examples", m, "go.sum")) as f:
            assert "golang.org/x/sys" not in f.read(), m
        with open(os.path.join(ROOT, "examples", m, "go.mod")) as f:
            assert "golang.org/x/sys" not in f.read(), m


@pytest.mark.parametrize("first", MODULES)
def test_the_second_go_module_is_an_import_error_naming_the_command(separate, first, tmp_path):
    second = MODULES[1 - MODULES.index(first)]
    r = in_venv(separate, f"""
        got = use({first!r})
        try:
            import {second}
            error = None
        except ImportError as e:
            error = str(e)
        done(got=got, error=error, runtimes=go_runtimes())
    """, tmp_path)
    assert r["got"] == EXPECTED[first]
    assert r["error"].startswith(f"cannot import {second}: its Go library ")
    assert f"`{COMMAND}`" in r["error"]
    assert [os.path.basename(os.path.dirname(p)) for p in r["runtimes"]] == [first]


@pytest.mark.parametrize("module", MODULES)
def test_pybuf_used_first_with_two_go_libraries_loads_its_own_core(separate, module, tmp_path):
    # Neither library is chosen by its name: pybuf's own core runs, and each
    # Go module's import names the command.
    r = in_venv(separate, f"""
        import pybuf
        pybuf.alloc(1)
        try:
            import {module}
            error = None
        except ImportError as e:
            error = str(e)
        done(error=error, runtimes=go_runtimes())
    """, tmp_path)
    assert [os.path.basename(p) for p in r["runtimes"]] == ["_pybuf_core.so"]
    assert f"`{COMMAND}`" in r["error"]


def test_the_command_installs_one_library_of_both_modules(separate, tmp_path):
    out = run_bundle_command(separate, tmp_path)
    assert out.strip() == "pybuf.gobuild bundle: installed pybuf-go-bundle holding gotext, govec"
    assert bundle_installed(separate)


@pytest.mark.parametrize("pybuf_first", [False, True], ids=["modules_first", "pybuf_used_first"])
@pytest.mark.parametrize("order", [MODULES, MODULES[::-1]], ids="_then_".join)
def test_bundled_modules_share_one_runtime_in_any_order(bundled, order, pybuf_first, tmp_path):
    r = in_venv(bundled, f"""
        if {pybuf_first}:
            import pybuf
            pybuf.alloc(1)
        got = {{name: use(name) for name in {list(order)!r}}}
        done(got=got, runtimes=go_runtimes())
    """, tmp_path)
    assert r["got"] == EXPECTED
    assert [p.split(os.sep)[-2:] for p in r["runtimes"]] == [["pybuf_go_bundle", "_pybuf_go.so"]]


def test_the_command_refuses_a_module_that_is_not_installed(venv, tmp_path):
    p = subprocess.run([venv, "-m", "pybuf.gobuild", "bundle", "gotext", "nosuch"], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.strip() == ("pybuf.gobuild bundle: no installed Go module is named nosuch "
                                "(installed: gotext, govec)")


# --- which library a Go module loads from, once a bundle is installed ----------


@pytest.fixture
def own_library(tmp_path):
    """A Go module's library file and the manifest its wheel carries (digest "d1")."""
    from pybuf import _pybuf

    lib = tmp_path / "gotext" / "_pybuf_go.so"
    lib.parent.mkdir()
    lib.write_bytes(b"")
    (lib.parent / "_pybuf_go.json").write_text(json.dumps({
        "abi": _pybuf._core_abi(), "modules": ["gotext"],
        "source": {"dir": "_pybuf_go_src", "digest": "d1", "packages": {"gotext": "example.com/gotext"}}}))
    return str(lib)


def install_fake_bundle(monkeypatch, tmp_path, held):
    from pybuf import _pybuf, gomodule

    path = str(tmp_path / "pybuf_go_bundle" / "_pybuf_go.so")
    monkeypatch.setattr(gomodule, "installed_bundle", lambda: (path, {"abi": _pybuf._core_abi(), "bundle": held}))
    return path


def test_without_a_bundle_a_module_loads_its_own_library(own_library, monkeypatch):
    from pybuf import gomodule

    monkeypatch.setattr(gomodule, "installed_bundle", lambda: None)
    assert gomodule.bundled_library("gotext", own_library) == own_library


def test_a_bundle_holding_the_modules_source_is_its_library(own_library, monkeypatch, tmp_path):
    from pybuf import gomodule

    path = install_fake_bundle(monkeypatch, tmp_path, {"gotext": {"dist": "gotext", "digest": "d1"}})
    assert gomodule.bundled_library("gotext", own_library) == path


@pytest.mark.parametrize("held, why", [
    ({"govec": {"dist": "govec", "digest": "d1"}}, "does not hold it"),
    ({"gotext": {"dist": "gotext", "digest": "d0"}}, "was built from another version of its Go source"),
], ids=["not_held", "stale"])
def test_a_bundle_without_the_module_is_an_import_error_naming_the_command(own_library, monkeypatch, tmp_path,
                                                                            held, why):
    from pybuf import gomodule

    path = install_fake_bundle(monkeypatch, tmp_path, held)
    with pytest.raises(ImportError) as e:
        gomodule.bundled_library("gotext", own_library)
    assert str(e.value) == (f"cannot import gotext: the installed Go bundle {path} {why}. Rebuild the bundle "
                            f"from every installed Go module: {COMMAND}")


def test_an_import_path_read_from_a_distribution_stays_one_go_string(tmp_path):
    from pybuf._gobuilder import write_main

    hostile = 'example.com/x"\n)\n\nfunc init() { panic(1) }\n\nimport (\n\t"os'
    write_main(str(tmp_path), [], [hostile], "func main() {}")
    lines = (tmp_path / "main.go").read_text().splitlines()
    assert lines[4] == '\t_ "example.com/x\\"\\n)\\n\\nfunc init() { panic(1) }\\n\\nimport (\\n\\t\\"os"'
    assert lines[5:] == [")", "", "func main() {}"]


# --- what the command reads from an installed distribution is checked -----------


def planted_go_module(tmp_path, *, packages=None, digest=None):
    """A distribution rooted at tmp_path holding a Go module "gotext" as
    pybuf.gobuild lays it out: library, manifest, source; its entry point."""
    from importlib.metadata import PathDistribution

    from pybuf import _gosource, _pybuf, gomodule

    pkg = tmp_path / "gotext"
    src = pkg / gomodule.SOURCE_DIR
    src.mkdir(parents=True)
    (src / "go.mod").write_text("module example.com/gotext\n\ngo 1.26\n")
    (src / "gotext.go").write_text("package gotext\n")
    (pkg / gomodule.LIBRARY_FILE).write_bytes(b"")
    source = {"dir": gomodule.SOURCE_DIR, "digest": digest or _gosource.source_digest(str(src)),
              "packages": {"gotext": "example.com/gotext"} if packages is None else packages}
    (pkg / gomodule.MANIFEST_FILE).write_text(json.dumps(
        {"abi": _pybuf._core_abi(), "modules": ["gotext"], "source": source}))
    info = tmp_path / "gotext-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gotext\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{gomodule.ENTRY_POINT_GROUP}]\ngotext = gotext:_pybuf_go.so\n")
    (ep,) = [e for e in PathDistribution(info).entry_points if e.group == gomodule.ENTRY_POINT_GROUP]
    return ep, str(pkg / gomodule.LIBRARY_FILE)


def test_a_planted_go_module_is_bundled_from_its_source(tmp_path):
    from pybuf import gobundle

    ep, lib = planted_go_module(tmp_path)
    d = gobundle.from_manifest(ep, lib)
    assert (d.dist, d.error, d.packages) == ("gotext", "", {"gotext": "example.com/gotext"})
    assert d.source == os.path.realpath(tmp_path / "gotext" / "_pybuf_go_src")


def test_a_source_other_than_its_digest_is_not_bundled(tmp_path):
    from pybuf import gobundle

    ep, lib = planted_go_module(tmp_path, digest="0" * 64)
    d = gobundle.from_manifest(ep, lib)
    assert d.error == (f"the Go source in {tmp_path / 'gotext' / '_pybuf_go_src'} is not the one its wheel "
                       "was built from")
    with pytest.raises(gobundle.BundleError, match="^cannot bundle gotext: the Go source in "):
        gobundle.select([d], [])


def test_a_source_directory_linked_out_of_its_package_is_not_bundled(tmp_path):
    from pybuf import gobundle

    ep, lib = planted_go_module(tmp_path / "dist")
    src = tmp_path / "dist" / "gotext" / "_pybuf_go_src"
    shutil.move(src, tmp_path / "elsewhere")
    src.symlink_to(tmp_path / "elsewhere")
    assert gobundle.from_manifest(ep, lib).error == f"{src} is not a Go module inside its package"


@pytest.mark.parametrize("packages", [{"go-text": "example.com/gotext"}, {"gotext": ""}, {"gotext": 1}, []])
def test_a_manifest_without_module_and_package_names_is_not_bundled(tmp_path, packages):
    from pybuf import gobundle

    ep, lib = planted_go_module(tmp_path, packages=packages)
    assert gobundle.from_manifest(ep, lib).error == (
        f"its manifest names no Python module -> Go package pairs ({lib})")


def test_a_go_module_outside_the_environments_site_folders_is_left_out(tmp_path, monkeypatch, capsys):
    # A distribution in the current directory (on sys.path for python -m) is no installed one.
    from pybuf import gobundle

    ep, _ = planted_go_module(tmp_path)
    monkeypatch.setattr(gobundle, "_entry_points", lambda group: [ep])
    assert gobundle.installed_go_modules() == []
    assert capsys.readouterr().err == (f"pybuf.gobuild bundle: leaving out 'gotext:_pybuf_go.so' of {tmp_path}, "
                                       "not an installed distribution's folder\n")

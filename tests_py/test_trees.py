"""Parent and child owners (API.md, "Trees of owners"): a parent's release runs
only after every child's, whatever order the objects die in and whoever
decides the release; invalidate() refuses while views live."""
import ctypes
import gc
import os
import threading

import numpy as np
import pytest

import pybuf

N = 8


class Tree:
    """Owners over one ctypes block; each release logs its owner's name."""

    def __init__(self):
        self.block = (ctypes.c_int32 * N)(*range(N))
        self.log = []

    def owner(self, name, parent=None, **kw):
        return pybuf.Owner(lambda: self.log.append(name), name=name, parent=parent, **kw)

    def view(self, owner):
        return np.asarray(owner.buffer(ctypes.addressof(self.block), N, "i"))


@pytest.fixture
def tree():
    return Tree()


def test_a_child_names_its_parent(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    assert node.parent is doc
    assert doc.parent is None


def test_parent_dropped_first_releases_after_its_child(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    del doc
    assert tree.log == []
    del node
    assert tree.log == ["node", "doc"]


def test_parent_closed_while_a_child_view_lives_waits_for_it(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    a = tree.view(node)
    doc.close()
    assert tree.log == []
    assert int(a[3]) == 3
    del a
    assert tree.log == ["node", "doc"]
    assert doc.released and node.released


def test_parent_close_closes_its_children(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    doc.close()
    assert node.closed
    assert tree.log == ["node", "doc"]
    with pytest.raises(BufferError, match="'node' is released"):
        node.buffer(ctypes.addressof(tree.block), N, "i")


def test_a_closed_parent_takes_no_new_child(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    view = tree.view(node)
    doc.close()
    with pytest.raises(BufferError, match="'doc' is closed"):
        tree.owner("late", doc)
    del view


def test_parent_must_be_an_owner(tree):
    with pytest.raises(TypeError, match="parent must be a pybuf.Owner"):
        pybuf.Owner(name="x", parent=object())


def test_strict_close_of_a_parent_names_the_child_and_its_views(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    view = tree.view(node)
    with pytest.raises(BufferError, match=r"'node' \(child of owner 'doc'\): 1 buffer\(s\) and 1 export"):
        doc.close(strict=True)
    assert tree.log == [] and not doc.closed
    del view


def test_strict_close_of_a_parent_names_a_grandchild(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    text = tree.owner("text", node)
    view = tree.view(text)
    with pytest.raises(BufferError, match=r"'text' \(child of owner 'node'\)"):
        doc.close(strict=True)
    del view


def test_strict_close_of_a_parent_releases_idle_children_first(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    tree.owner("text", node)  # dropped at once: released already
    kept = tree.owner("kept", node)
    doc.close(strict=True)
    assert tree.log == ["text", "kept", "node", "doc"]
    assert kept.released


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 2, 1)])
def test_any_order_of_deaths_releases_children_first(tree, order):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    text = tree.owner("text", node)
    objs = [doc, node, text]
    del doc, node, text
    for i in order:
        objs[i] = None
    assert tree.log == ["text", "node", "doc"]


def test_a_garbage_cycle_releases_children_first(tree):
    for _ in range(5):
        doc = tree.owner("doc")
        node = tree.owner("node", doc)
        text = tree.owner("text", node)
        cycle = [doc, node, text, tree.view(text)]
        cycle.append(cycle)
        del doc, node, text, cycle
        gc.collect()
        gc.collect()
        assert tree.log == ["text", "node", "doc"]
        tree.log.clear()


class Doc(pybuf.Owner):
    """An owner with a __dict__, so a release can close over it (a cycle)."""


def test_a_cycle_through_the_releases_releases_children_first(tree):
    def closing_over_its_owner(name, parent=None):
        cell = []
        owner = Doc(lambda: tree.log.append((name, cell[0].name)), name=name, parent=parent)
        cell.append(owner)  # owner -> release -> cell -> owner
        return owner

    doc = closing_over_its_owner("doc")
    node = closing_over_its_owner("node", doc)
    doc.child = node
    node.buf = node.buffer(ctypes.addressof(tree.block), N, "i")
    del doc, node
    gc.collect()
    gc.collect()
    assert tree.log == [("node", "node"), ("doc", "doc")]


def test_a_parent_closed_on_another_thread_waits_for_this_threads_view(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    view = tree.view(node)
    t = threading.Thread(target=doc.close)
    t.start()
    t.join()
    assert tree.log == []
    del view
    assert tree.log == ["node", "doc"]


def test_a_creator_thread_child_holds_its_parent_until_it_ran(tree):
    doc = tree.owner("doc")
    made, go = threading.Event(), threading.Event()
    box = {}

    def creator():
        box["node"] = tree.owner("node", doc, release_thread="creator")
        made.set()
        go.wait()
        pybuf.run_pending()

    t = threading.Thread(target=creator)
    t.start()
    made.wait()
    box.pop("node").close()  # queued for its creator thread
    doc.close()
    assert tree.log == []
    go.set()
    t.join()
    assert tree.log == ["node", "doc"]


def test_live_shows_the_tree(tree):
    doc = tree.owner("doc")
    node = tree.owner("node", doc)
    infos = {i.name: i for i in pybuf.live() if i.name in ("doc", "node")}
    assert infos["doc"].parent is None
    assert infos["node"].parent == infos["doc"].id
    del node, doc


def test_a_child_without_release_stands_for_parent_memory(tree):
    doc = tree.owner("doc")
    node = pybuf.Owner(parent=doc, name="node")
    view = np.asarray(node.buffer(ctypes.addressof(tree.block), N, "i"))
    del doc
    assert tree.log == []
    del node
    assert tree.log == []
    assert int(view[7]) == 7
    del view
    assert tree.log == ["doc"]


# --- invalidate(): valid until the next call ----------------------------------

def test_invalidate_without_views_releases_now(tree):
    stmt = tree.owner("stmt")
    row = tree.owner("row", stmt)
    row.invalidate()
    assert row.released and tree.log == ["row"]


def test_invalidate_with_a_view_refuses_and_names_it(tree):
    stmt = tree.owner("stmt")
    row = tree.owner("row", stmt)
    view = tree.view(row)
    with pytest.raises(BufferError, match=r"cannot invalidate owner 'row' now: 1 buffer\(s\) and 1 export"):
        row.invalidate()
    assert tree.log == [] and not row.closed
    del view
    row.invalidate()
    assert tree.log == ["row"]


def test_invalidate_of_a_parent_refuses_for_a_grandchild_view(tree):
    stmt = tree.owner("stmt")
    row = tree.owner("row", stmt)
    col = tree.owner("col", row)
    view = tree.view(col)
    with pytest.raises(BufferError, match=r"'col' \(child of owner 'row'\)"):
        row.invalidate()
    del view
    row.invalidate()
    assert tree.log == ["col", "row"]


def test_invalidate_of_a_released_owner_does_nothing(tree):
    row = tree.owner("row")
    row.close()
    row.invalidate()
    assert tree.log == ["row"]


# --- child(): the method form -------------------------------------------------

def test_child_method_makes_a_child_released_first(tree):
    doc = tree.owner("doc")
    node = doc.child(lambda: tree.log.append("node"), name="node")
    assert node.parent is doc and node.name == "node"
    view = tree.view(node)
    doc.close()
    del node
    assert tree.log == []
    del view
    assert tree.log == ["node", "doc"]


def test_child_method_of_a_closed_owner_raises(tree):
    doc = tree.owner("doc")
    doc.close()
    with pytest.raises(BufferError, match="'doc' is released"):
        doc.child(name="late")


def test_child_method_rejects_a_bad_release(tree):
    doc = tree.owner("doc")
    with pytest.raises(TypeError):
        doc.child(42.5)
    del doc
    assert tree.log == ["doc"]  # the failed child left no count behind


# --- exit and the end of a subinterpreter -------------------------------------

EXIT_TREE = """
import ctypes, functools, os, numpy as np, pybuf
block = (ctypes.c_int32 * 8)()
say = lambda word: functools.partial(os.write, 1, word)
doc = pybuf.Owner(say(b"doc;"), name="doc")
node = doc.child(say(b"node;"), name="node")
text = node.child(say(b"text;"), name="text")
view = np.asarray(text.buffer(ctypes.addressof(block), 8, "i"))   # a global view at exit
{last}
"""


@pytest.mark.parametrize("last", ["", "doc.close()", "del doc, node",
                                  "class C: pass\nc = C(); c.me = c; c.doc = doc; del doc"])
def test_exit_releases_children_first(last, run_isolated):
    rc, out, err = run_isolated(EXIT_TREE.format(last=last), prelude=False)
    assert rc == 0, err
    assert out == "text;node;doc;", (out, err)


@pytest.mark.parametrize("leak_export, released", [(False, "node;doc;"), (True, "")])
def test_an_ending_subinterpreter_releases_children_first(leak_export, released, run_isolated):
    """At its end an interpreter releases its owners (newest first); a child whose export
    outlives it (leaked) is never released, and neither is its parent."""
    import subinterp
    if not subinterp.SUBINTERPRETERS:
        pytest.skip("subinterpreters need CPython 3.12+")
    rc, out, err = run_isolated(f"""
import os, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import subinterp
r, w = os.pipe()
interp = subinterp.create(False)
subinterp.run(interp, '''
import ctypes, functools, os, pybuf
block = (ctypes.c_int32 * 8)()
doc = pybuf.Owner(functools.partial(os.write, {{w}}, b"doc;"), name="doc")
node = doc.child(functools.partial(os.write, {{w}}, b"node;"), name="node")
buf = node.buffer(ctypes.addressof(block), 8, "i")
held = [doc, node, buf] + ([memoryview(buf)] if {leak_export} else [])
for o in held:                          # references nothing drops before the end
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(o))
'''.replace("{{w}}", str(w)))
subinterp.destroy(interp)
os.close(w)
print(os.read(r, 100).decode(), end="")
""", prelude=False)
    assert rc == 0, err
    assert out == released, (out, err)


def test_a_parent_name_whose_repr_closes_the_child_being_made():
    """The BufferError for a closed parent formats its name (Python code), which here
    closes the child under construction: its release runs once, by that close."""
    box, calls = {}, []

    class Name(str):
        def __repr__(self):
            box["child"].close()
            return "'doc'"

    class Child(pybuf.Owner):
        def __init__(self, **kw):
            box["child"] = self
            super().__init__(**kw)

    doc = pybuf.Owner(name=Name("doc"))
    doc.close()
    with pytest.raises(BufferError, match="'doc' is released"):
        Child(release=lambda: calls.append(1), parent=doc)
    box.clear()
    gc.collect()
    assert calls == [1]


@pytest.mark.parametrize("make", ["child", "parent="])
def test_a_child_whose_arg_closes_the_parent_is_refused(tree, make):
    """`arg.__index__` (Python code) closes the parent while the child is made: the parent
    is checked after it, the child refused, its release never runs (never taken)."""
    doc = tree.owner("doc")
    calls = []
    cb = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda p: calls.append(p))

    class Closer:
        def __index__(self):
            doc.close()
            return 64

    with pytest.raises(BufferError, match="'doc' is released"):
        if make == "child":
            doc.child(cb, arg=Closer())
        else:
            pybuf.Owner(cb, arg=Closer(), parent=doc)
    gc.collect()
    assert calls == [] and tree.log == ["doc"]

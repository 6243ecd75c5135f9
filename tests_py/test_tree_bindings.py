"""examples/trees attacked: bindings of libxml2, libarchive and SQLite whose
memory belongs to other memory (Owner(parent=)) or is valid until the next
call (invalidate()). Views outlive their document, archive or statement; the
parent is closed first; garbage cycles; threads; exit; pickling.

A wrong order shows on the real libraries: the connection's release raises
(sqlite3_close returns SQLITE_BUSY) if a statement was not finalized first,
and the unraisable hook sees it."""
import gc
import os
import pickle
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "trees")
sys.path.insert(0, EXAMPLES)

import archive_blocks  # noqa: E402
import sqlite_blobs  # noqa: E402
import xml_nodes  # noqa: E402

XML = b"<doc><a>alpha</a><b>bravo</b><c>charlie</c></doc>"
ROWS = [bytes(range(1, 9)), bytes(range(20, 36))]


def sqlite_rows():
    db = sqlite_blobs.Connection()
    db.execute("CREATE TABLE t (b BLOB); INSERT INTO t VALUES (x'0102030405060708'), "
               "(x'" + ROWS[1].hex() + "')")
    return db, db.prepare("SELECT b FROM t")


def tar():
    return archive_blocks.make_tar({"a.txt": b"alpha" * 100, "b.txt": b"bravo" * 100})


@pytest.mark.parametrize("script", ["xml_nodes.py", "archive_blocks.py", "sqlite_blobs.py"])
def test_example_runs(script):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "refused: cannot invalidate" in r.stdout
    assert r.stderr == ""


# --- libxml2: text nodes belong to their document --------------------------------------

def test_xml_view_outlives_the_document_object():
    doc = xml_nodes.Document(XML)
    owner = weakref.ref(doc.owner)
    view = np.asarray(doc.text(1))
    del doc
    gc.collect()
    assert bytes(view) == b"bravo" and owner() is not None
    del view
    assert owner() is None  # released by its deallocation


def test_xml_document_closed_first_waits_for_a_node_view():
    doc = xml_nodes.Document(XML)
    view = np.asarray(doc.text(2))
    doc.close()
    assert bytes(view) == b"charlie" and not doc.owner.released
    with pytest.raises(BufferError, match="is closed"):
        doc.text(0)
    del view
    assert doc.owner.released


def test_xml_document_strict_close_names_the_node_holding_it():
    doc = xml_nodes.Document(XML)
    view = np.asarray(doc.text(0))
    with pytest.raises(BufferError, match=r"'text node 0' \(child of owner 'xml document'\)"):
        doc.owner.close(strict=True)
    del view
    doc.owner.close(strict=True)
    assert doc.owner.released


def test_xml_set_text_refuses_while_the_old_text_is_viewed():
    doc = xml_nodes.Document(XML)
    view = np.asarray(doc.text(0))
    with pytest.raises(BufferError, match="cannot invalidate owner 'text node 0'"):
        doc.set_text(0, b"omega")
    assert bytes(view) == b"alpha"
    del view
    doc.set_text(0, b"omega")
    assert bytes(doc.text(0)) == b"omega"


def test_xml_garbage_cycle_is_released():
    doc = xml_nodes.Document(XML)
    doc.me = doc
    doc.kept = doc.text(1)
    released = weakref.ref(doc.owner)
    del doc
    gc.collect()
    gc.collect()
    assert released() is None


def test_xml_views_read_on_threads_while_the_document_closes():
    doc = xml_nodes.Document(XML)
    views = [np.asarray(doc.text(i % 3)) for i in range(6)]
    expected = [b"alpha", b"bravo", b"charlie"]
    seen = []
    start = threading.Barrier(len(views) + 1)

    def read(i, view):
        start.wait()
        seen.append(all(bytes(view) == expected[i % 3] for _ in range(200)))

    threads = [threading.Thread(target=read, args=(i, v)) for i, v in enumerate(views)]
    for t in threads:
        t.start()
    start.wait()
    doc.close()
    del views
    for t in threads:
        t.join()
    assert seen == [True] * 6
    gc.collect()
    assert doc.owner.released


# --- libarchive: a block is valid until the next read -----------------------------------

def test_archive_next_read_refuses_while_a_block_is_viewed():
    archive = archive_blocks.Archive(tar())
    assert archive.next_entry() == "a.txt"
    view = memoryview(archive.read_block())
    with pytest.raises(BufferError, match=r"cannot invalidate owner 'block at 0'"):
        archive.read_block()
    with pytest.raises(BufferError, match=r"cannot invalidate owner 'block at 0'"):
        archive.next_entry()
    assert bytes(view) == b"alpha" * 100
    view.release()
    assert archive.next_entry() == "b.txt"


def test_archive_block_outlives_the_archive_and_its_input():
    archive = archive_blocks.Archive(bytes(tar()))
    archive.next_entry()
    view = np.asarray(archive.read_block())
    owner = weakref.ref(archive.owner)
    del archive
    gc.collect()
    assert bytes(view) == b"alpha" * 100 and owner() is not None
    del view
    assert owner() is None


def test_archive_closed_first_waits_for_the_block():
    archive = archive_blocks.Archive(tar())
    archive.next_entry()
    view = np.asarray(archive.read_block())
    archive.close()
    assert not archive.owner.released
    with pytest.raises(ValueError, match="closed"):
        archive.read_block()
    assert bytes(view) == b"alpha" * 100
    del view
    assert archive.owner.released


def test_archive_garbage_cycle_is_released():
    archive = archive_blocks.Archive(tar())
    archive.next_entry()
    archive.me = archive
    archive.kept = archive.read_block()
    released = weakref.ref(archive.owner)
    del archive
    gc.collect()
    gc.collect()
    assert released() is None


# --- SQLite: a blob is valid until the next step ----------------------------------------

@pytest.fixture
def no_unraisable(unraisable):
    yield unraisable
    gc.collect()
    assert unraisable == []


def test_sqlite_step_refuses_while_a_blob_is_viewed(no_unraisable):
    db, stmt = sqlite_rows()
    assert stmt.step()
    view = np.asarray(stmt.blob(0))
    with pytest.raises(BufferError, match="cannot invalidate owner 'row of SELECT b FROM t'"):
        stmt.step()
    with pytest.raises(BufferError, match="cannot invalidate"):
        stmt.reset()
    assert bytes(view) == ROWS[0]
    del view
    assert stmt.step() and bytes(stmt.blob(0)) == ROWS[1]


def test_sqlite_blob_outlives_statement_and_connection(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    view = np.asarray(stmt.blob(0))
    owners = [weakref.ref(stmt.owner), weakref.ref(db.owner)]
    del db, stmt
    gc.collect()
    assert bytes(view) == ROWS[0] and all(o() is not None for o in owners)
    del view
    assert [o() for o in owners] == [None, None]


def test_sqlite_connection_closed_first_finalizes_the_statement_first(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    view = np.asarray(stmt.blob(0))
    db.close()
    assert not db.owner.released
    with pytest.raises(ValueError, match="closed"):
        stmt.step()
    assert bytes(view) == ROWS[0]
    del view
    assert stmt.owner.released and db.owner.released


def test_sqlite_connection_strict_close_names_the_row(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    view = np.asarray(stmt.blob(0))
    with pytest.raises(BufferError, match=r"'row of SELECT b FROM t' \(child of owner 'SELECT b FROM t'\)"):
        db.owner.close(strict=True)
    del view
    db.owner.close(strict=True)
    assert stmt.owner.released and db.owner.released


def test_sqlite_garbage_cycle_finalizes_before_closing(no_unraisable):
    for _ in range(3):
        db, stmt = sqlite_rows()
        stmt.step()
        stmt.me, db.me, stmt.db = stmt, db, db
        stmt.kept = stmt.blob(0)
        gone = [weakref.ref(stmt.owner), weakref.ref(db.owner)]
        del db, stmt
        gc.collect()
        gc.collect()
        assert [r() for r in gone] == [None, None]


def test_sqlite_blobs_read_on_threads_while_the_connection_closes(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    views = [np.asarray(stmt.blob(0)) for _ in range(4)]
    seen = []
    start = threading.Barrier(len(views) + 1)

    def read(view):
        start.wait()
        seen.append(all(bytes(view) == ROWS[0] for _ in range(200)))

    threads = [threading.Thread(target=read, args=(v,)) for v in views]
    for t in threads:
        t.start()
    start.wait()
    closer = threading.Thread(target=db.close)
    closer.start()
    closer.join()
    del views
    for t in threads:
        t.join()
    assert seen == [True] * 4
    gc.collect()
    assert db.owner.released


def test_sqlite_pickled_blob_is_a_copy_that_outlives_the_connection(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    copy = pickle.loads(pickle.dumps(stmt.blob(0)))
    assert stmt.step()
    db.close()
    gc.collect()
    assert db.owner.released
    assert bytes(copy) == ROWS[0]


def test_sqlite_out_of_band_pickle_holds_the_row_until_it_is_dropped(no_unraisable):
    db, stmt = sqlite_rows()
    stmt.step()
    frames = []
    data = pickle.dumps(stmt.blob(0), protocol=5, buffer_callback=frames.append)
    with pytest.raises(BufferError, match="cannot invalidate"):
        stmt.step()
    assert bytes(pickle.loads(data, buffers=frames)) == ROWS[0]
    del frames
    gc.collect()
    assert stmt.step()


EXIT_SCRIPT = """
import gc, sys
sys.path.insert(0, {examples!r})
import numpy as np
import archive_blocks, sqlite_blobs, xml_nodes
db = sqlite_blobs.Connection()
db.execute("CREATE TABLE t (b BLOB); INSERT INTO t VALUES (x'0102')")
stmt = db.prepare("SELECT b FROM t")
stmt.step()
view = np.asarray(stmt.blob(0))      # a global view at exit
stmt.me = stmt                       # and a cycle
doc = xml_nodes.Document(b"<a>x</a>")
doc.me, doc.kept = doc, doc.text(0)
archive = archive_blocks.Archive(archive_blocks.make_tar({{"f": b"y" * 10}}))
archive.next_entry()
block = memoryview(archive.read_block())
{last}
print("ok", flush=True)
"""


@pytest.mark.parametrize("last", ["", "db.close(); doc.close(); archive.close()",
                                  "del db, stmt, doc, archive"])
def test_bindings_at_exit(last):
    script = EXIT_SCRIPT.format(examples=EXAMPLES, last=last)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, PYBUF_REPORT_LEAKS="1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    assert "sqlite3_close" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr

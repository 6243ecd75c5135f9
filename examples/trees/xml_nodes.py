"""libxml2 over ctypes: the content of a text node belongs to its document.

xmlFreeDoc frees every node, and xmlNodeSetContent frees the node's old
content. The document is an Owner whose release is xmlFreeDoc; each text
node is a child Owner with no release of its own (its memory is the
document's), so:

- a view of a node's text keeps the document alive, whatever order the
  Python objects die in and even after ``doc.close()``;
- ``set_text`` invalidates the node first: it refuses (BufferError naming the
  views) while a view of the old text lives, instead of freeing it under them.

Run it: ``python examples/trees/xml_nodes.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

import pybuf

XML_TEXT_NODE = 3


class _Node(ctypes.Structure):
    """The leading fields of libxml2's struct _xmlNode (stable since 2.0)."""


_Node._fields_ = [
    ("_private", ctypes.c_void_p),
    ("type", ctypes.c_int),
    ("name", ctypes.c_void_p),
    ("children", ctypes.POINTER(_Node)),
    ("last", ctypes.POINTER(_Node)),
    ("parent", ctypes.POINTER(_Node)),
    ("next", ctypes.POINTER(_Node)),
    ("prev", ctypes.POINTER(_Node)),
    ("doc", ctypes.c_void_p),
    ("ns", ctypes.c_void_p),
    ("content", ctypes.c_void_p),
]

_lib = ctypes.CDLL(ctypes.util.find_library("xml2") or "libxml2.so.2")
_lib.xmlReadMemory.restype = ctypes.c_void_p
_lib.xmlReadMemory.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_char_p, ctypes.c_int]
_lib.xmlDocGetRootElement.restype = ctypes.POINTER(_Node)
_lib.xmlDocGetRootElement.argtypes = [ctypes.c_void_p]
_lib.xmlFreeDoc.restype = None
_lib.xmlFreeDoc.argtypes = [ctypes.c_void_p]
_lib.xmlStrlen.restype = ctypes.c_int
_lib.xmlStrlen.argtypes = [ctypes.c_void_p]
_lib.xmlNodeSetContent.restype = None
_lib.xmlNodeSetContent.argtypes = [ctypes.POINTER(_Node), ctypes.c_char_p]


def _text_nodes(node: ctypes._Pointer[_Node]) -> list[ctypes._Pointer[_Node]]:
    found: list[ctypes._Pointer[_Node]] = []
    while node:
        if node.contents.type == XML_TEXT_NODE:
            found.append(node)
        found.extend(_text_nodes(node.contents.children))
        node = node.contents.next
    return found


class Document:
    """A parsed XML document; ``text(i)`` is a read-only view of text node i."""

    def __init__(self, xml: bytes, name: str = "xml document") -> None:
        doc = _lib.xmlReadMemory(xml, len(xml), None, None, 0)
        if not doc:
            raise ValueError("xml: not well-formed")
        self.owner = pybuf.Owner(_lib.xmlFreeDoc, arg=doc, name=name)
        self._nodes = _text_nodes(_lib.xmlDocGetRootElement(doc))
        self._node_owners: dict[int, pybuf.Owner] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def _node_owner(self, i: int) -> pybuf.Owner:
        owner = self._node_owners.get(i)
        if owner is None or owner.closed:
            # BufferError once the document is closed: its nodes give out nothing
            owner = self.owner.child(name=f"text node {i}")
            self._node_owners[i] = owner
        return owner

    def text(self, i: int) -> pybuf.Buffer:
        owner = self._node_owner(i)
        content = self._nodes[i].contents.content
        return owner.buffer(content, _lib.xmlStrlen(content), readonly=True)

    def set_text(self, i: int, value: bytes) -> None:
        """xmlNodeSetContent frees the old text: refused while a view of it lives."""
        owner = self._node_owner(i)
        owner.invalidate()
        del self._node_owners[i]
        _lib.xmlNodeSetContent(self._nodes[i], value)

    def close(self) -> None:
        """xmlFreeDoc once the last view of any node is gone."""
        self.owner.close()


def main() -> None:
    doc = Document(b"<greeting><to>world</to><from>pybuf</from></greeting>")
    to = np.asarray(doc.text(0))
    print(bytes(to).decode())  # world
    try:
        doc.set_text(0, b"everyone")
    except BufferError as e:
        print("refused:", str(e).splitlines()[0])
    del to
    doc.set_text(0, b"everyone")
    print(bytes(doc.text(0)).decode())  # everyone
    kept = np.asarray(doc.text(1))
    doc.close()  # xmlFreeDoc waits for `kept`
    print(bytes(kept).decode(), doc.owner.released)  # pybuf False
    del kept
    print(doc.owner.released)  # True


if __name__ == "__main__":
    main()

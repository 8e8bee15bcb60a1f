"""S3's XML: small builders for responses, a guarded parser for request bodies."""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from montemap.s3api.errors import S3Error

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
#: The largest request document accepted (DeleteObjects of 1000 long keys fits).
MAX_XML_BYTES = 2 * 1024 * 1024


def el(name: str, value: object) -> str:
    """``<name>value</name>``, the value escaped (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, *children: str) -> str:
    return f'<{root} xmlns="{NAMESPACE}">{"".join(children)}</{root}>'


def iso_time(timestamp: float) -> str:
    """``2026-12-06T12:00:00.000Z``, as S3 writes times in XML."""
    whole = int(timestamp)
    millis = int((timestamp - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def object_time(timestamp: float) -> str:
    """An object's (or upload's, bucket's) time in XML: whole seconds, ``.000Z``, as S3
    keeps them; so a listing's ``LastModified`` equals GetObject's ``Last-Modified``
    (``aws s3 sync --exact-timestamps`` compares the two)."""
    return iso_time(float(math.floor(timestamp)))


def parse(body: bytes) -> ET.Element:
    """The root of a request document, namespaces stripped from tag names."""
    if len(body) > MAX_XML_BYTES:
        raise S3Error("MalformedXML", f"the XML document is over {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise S3Error("MalformedXML", "document type declarations are not accepted")
    # The byte test above misses a document in another encoding (UTF-16 declares
    # its DOCTYPE in two-byte characters): the parser itself refuses any DOCTYPE.
    parser = ET.XMLParser(target=_NoDoctype())
    try:
        parser.feed(body)
        root = parser.close()
    except ET.ParseError as exc:
        raise S3Error("MalformedXML", f"The XML you provided was not well-formed: {exc}")
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]
    return root


class _NoDoctype(ET.TreeBuilder):
    """The tree builder, refusing a document type declaration as soon as it starts."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise S3Error("MalformedXML", "document type declarations are not accepted")


def text(node: ET.Element, name: str) -> str | None:
    child = node.find(name)
    return None if child is None else (child.text or "")

"""S3's XML: small builders for responses, a guarded parser for request bodies."""

from __future__ import annotations

import math
import re
import time
import xml.etree.ElementTree as ET

from montemap.s3api.errors import S3Error

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
#: The largest request document accepted (DeleteObjects of 1000 long keys fits).
MAX_XML_BYTES = 2 * 1024 * 1024


def el(name: str, value: object) -> str:
    """``<name>value</name>``, the value escaped (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{xml_text(str(value))}</{name}>"


#: What a text node cannot hold as it is: markup, CR (a parser reads it as LF), and the
#: characters XML 1.0 has no place for (controls but tab, LF and CR; U+FFFE, U+FFFF;
#: lone surrogates).
_SPECIAL_RE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


def xml_text(value: str) -> str:
    """``value`` as the text of an element of S3's answers: ``&``, ``<``, ``>`` escaped,
    a CR as ``&#13;`` (as S3 writes it, so it reads back as a CR, not a LF), and each
    character XML 1.0 cannot carry (a key may hold ``\x01``) as U+FFFD, so every answer
    parses. S3 writes those as character references (``&#x1;``) that XML 1.0 parsers,
    boto3's among them, refuse; the listings' ``encoding-type=url`` (which boto3 asks
    for) carries such keys exactly."""
    if _SPECIAL_RE.search(value) is None:
        return value
    return _SPECIAL_RE.sub(lambda m: _ESCAPES.get(m.group(), "\ufffd"), value)


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
    held = _held_controls(body)
    parser = ET.XMLParser(target=_NoDoctype())
    try:
        parser.feed(body if held is None else held)
        root = parser.close()
    except ET.ParseError as exc:
        raise S3Error("MalformedXML", f"The XML you provided was not well-formed: {exc}")
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]
        if held is not None:
            _restore_controls(node)
    return root


#: A character XML 1.0 has no place for (a control but tab, LF and CR; U+FFFE, U+FFFF),
#: raw or as a character reference: boto3 sends a key's ``\x01`` raw in DeleteObjects
#: (other SDKs send ``&#x1;``), which S3 takes.
_UNFIT_RE = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]"
    rb"|&#(?:x0*([0-9a-fA-F]{1,4})|0*([0-9]{1,5}));"
)
_UNFIT = [*range(0x9), 0xB, 0xC, *range(0xE, 0x20), 0xFFFE, 0xFFFF]
#: Where each such character waits while the document is parsed: a private use
#: character (XML carries those), U+F0000 and on; :func:`_restore_controls` gives it back.
_HOLD = {code: chr(0xF0000 + index).encode("utf-8") for index, code in enumerate(_UNFIT)}
_HELD_RE = re.compile(b"\xf3\xb0\x80[\x80-\x9f]")
_RELEASE = {0xF0000 + index: code for index, code in enumerate(_UNFIT)}


def _held_controls(body: bytes) -> bytes | None:
    """``body`` (UTF-8) with each character XML 1.0 refuses held as a private use one,
    so the parser takes it; ``None`` when there is none (or the document is not UTF-8)."""
    if _UNFIT_RE.search(body) is None or body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    cdata = b"<![CDATA[" in body  # a reference there is text, not a character

    def hold(match: re.Match[bytes]) -> bytes:
        hex_code, decimal = match.groups()
        if hex_code is None and decimal is None:
            return _HOLD[ord(match.group().decode("utf-8"))]
        code = int(hex_code, 16) if hex_code is not None else int(decimal)
        return match.group() if cdata else _HOLD.get(code, match.group())

    if _HELD_RE.search(body):  # the document has those characters itself
        raise S3Error("MalformedXML", "The XML you provided was not well-formed")
    return _UNFIT_RE.sub(hold, body)


def _restore_controls(node: ET.Element) -> None:
    if node.text:
        node.text = node.text.translate(_RELEASE)
    if node.tail:
        node.tail = node.tail.translate(_RELEASE)
    for name, value in node.attrib.items():
        node.attrib[name] = value.translate(_RELEASE)


class _NoDoctype(ET.TreeBuilder):
    """The tree builder, refusing a document type declaration as soon as it starts."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise S3Error("MalformedXML", "document type declarations are not accepted")


def text(node: ET.Element, name: str) -> str | None:
    child = node.find(name)
    return None if child is None else (child.text or "")

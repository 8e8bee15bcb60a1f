"""Object and bucket tagging: ``?tagging`` and the ``x-amz-tagging`` header, with S3's limits.

The rules of a tag set are :mod:`montemap.storage.tag_rules` (shared with
CloudFormation's bucket ``Tags``). Breaking a rule is S3's ``InvalidTag``; a document that does not match S3's schema
is ``MalformedXML``; an ``x-amz-tagging`` header that is not URL-encoded
query parameters (or names a key twice) is ``InvalidArgument``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from montemap.s3api.acl import header_grants
from montemap.s3api.context import S3Context, meta_from_headers
from montemap.s3api.errors import S3Error
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, parse
from montemap.storage import LocalObjectStore, ObjectMeta
from montemap.storage.base import Grants, Tags
from montemap.storage.records import records_for
from montemap.storage.tag_rules import BUCKET_TAG_LIMIT, OBJECT_TAG_LIMIT, tag_problem


def validate(tags: Tags, limit: int, *, what: str) -> Tags:
    """``tags`` if they keep S3's rules, else ``InvalidTag`` naming the first broken one."""
    problem = tag_problem(tags, limit, what=what)
    if problem is not None:
        raise S3Error("InvalidTag", problem)
    return tags


def header_tags(value: str) -> Tags:
    """The tag set of an ``x-amz-tagging`` header (``k1=v1&k2=v2``, URL-encoded)."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value))
    except ValueError:
        pairs = None
    if pairs is None or len({key for key, _ in pairs}) != len(pairs):
        raise S3Error(
            "InvalidArgument",
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            f"parameters without tag name duplicates (got {value!r})",
        )
    return validate(tuple(pairs), OBJECT_TAG_LIMIT, what="Object")


def header_records(headers: dict[str, str]) -> tuple[Tags, Grants]:
    """The tags (``x-amz-tagging``) and ACL (``x-amz-acl``, grant headers) of a new object."""
    value = headers.get("x-amz-tagging")
    tags = header_tags(value) if value is not None else ()
    named = header_grants(headers)
    return tags, named[0] if named is not None else ()


async def copy_meta(
    ctx: S3Context, req: S3Request, src_bucket: str, src_key: str, directive: str
) -> ObjectMeta | None:
    """What a CopyObject's copy keeps, or ``None``: the source's metadata and tags as they are.

    As S3: the metadata is the source's (``x-amz-metadata-directive: COPY``) or the
    request's (``REPLACE``); the tags likewise with ``x-amz-tagging-directive``; the
    ACL is never copied (the request's, else private).
    """
    tag_directive = req.header("x-amz-tagging-directive", "COPY").upper()
    if tag_directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", f"Unknown tagging directive {tag_directive!r}")
    wanted = meta_from_headers(req.headers)
    if directive == "COPY" and tag_directive == "COPY" and not wanted.acl:
        if not isinstance(ctx.store, LocalObjectStore):
            return None  # an S3 endpoint copies metadata and tags, not the ACL
        source = await ctx.call(ctx.store.head, src_bucket, src_key)
        if not source.acl:
            return None
    else:
        source = await ctx.call(ctx.store.head, src_bucket, src_key)
    base = wanted if directive == "REPLACE" else source
    return ObjectMeta(
        base.content_type,
        base.metadata,
        base.headers,
        wanted.tags if tag_directive == "REPLACE" else source.tags,
        wanted.acl,
    )


def document_tags(body: bytes | None, limit: int, *, what: str) -> Tags:
    """The tag set of a ``<Tagging><TagSet><Tag><Key/><Value/></Tag>...`` document."""
    if not body:
        raise S3Error("MalformedXML", "the request needs a <Tagging> document")
    root = parse(body)
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise S3Error("MalformedXML", "expected <Tagging><TagSet>...</TagSet></Tagging>")
    tags = []
    for node in tag_set:
        key, value = node.find("Key"), node.find("Value")
        if node.tag != "Tag" or key is None or value is None:
            raise S3Error("MalformedXML", "each <Tag> of a <TagSet> needs a <Key> and a <Value>")
        tags.append((key.text or "", value.text or ""))
    return validate(tuple(tags), limit, what=what)


def render(tags: Tags) -> str:
    items = "".join("<Tag>" + el("Key", k) + el("Value", v) + "</Tag>" for k, v in tags)
    return document("Tagging", f"<TagSet>{items}</TagSet>")


async def serve(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    """``?tagging`` on an object or a bucket: GET, PUT or DELETE."""
    records = records_for(ctx.store)
    method, bucket, key = req.method, req.bucket, req.key
    if key:
        if method == "GET":
            return xml_response(render(await ctx.call(records.object_tags, bucket, key)))
        if method == "PUT":
            tags = document_tags(body, OBJECT_TAG_LIMIT, what="Object")
            await ctx.call(records.put_object_tags, bucket, key, tags)
            await ctx.notify_change(req, "ObjectTagging:Put")
            return S3Response(200)
        if method == "DELETE":
            await ctx.call(records.put_object_tags, bucket, key, ())
            await ctx.notify_change(req, "ObjectTagging:Delete")
            return S3Response(204)
    else:
        if method == "GET":
            found = await ctx.call(records.bucket_tags, bucket)
            if found is None:
                raise S3Error("NoSuchTagSet", "The TagSet does not exist", bucket=bucket)
            return xml_response(render(found))
        if method == "PUT":
            tags = document_tags(body, BUCKET_TAG_LIMIT, what="Bucket")
            await ctx.call(records.put_bucket_tags, bucket, tags)
            return S3Response(204)
        if method == "DELETE":
            await ctx.call(records.put_bucket_tags, bucket, None)
            return S3Response(204)
    raise S3Error(
        "MethodNotAllowed", f"The specified method ({method}) is not allowed against ?tagging."
    )

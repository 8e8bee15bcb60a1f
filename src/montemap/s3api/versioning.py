"""Bucket versioning state, and the ``null`` versions of buckets that keep one copy per key.

montemap's stores keep one object per key: there is no versioned storage.
So a bucket's versioning state is kept and answered (never set: no
``<Status>``; ``Suspended``), and ``Status=Enabled`` is refused with
``NotImplemented`` rather than accepted and not honoured. Every object then
has exactly one version, S3's ``null`` version: ListObjectVersions lists
them, and ``versionId=null`` names them on GET, HEAD, DELETE and the
tagging and ACL sub-resources; any other version id is ``InvalidArgument``,
as S3 answers for a bucket without versions.
"""

from __future__ import annotations

from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error, not_implemented
from montemap.s3api.listing import encoder, list_entries, parse_max_keys
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, object_time, parse
from montemap.storage import ObjectStore
from montemap.storage.grants import OWNER_ID, OWNER_NAME
from montemap.storage.records import records_for

NULL_VERSION = "null"
_OWNER = "<Owner>" + el("ID", OWNER_ID) + el("DisplayName", OWNER_NAME) + "</Owner>"


def check_version_id(req: S3Request) -> None:
    """Refuse a ``versionId`` other than ``null`` (the only version an object has here)."""
    version = req.query.get("versionId")
    if version is not None and version != NULL_VERSION:
        raise S3Error(
            "InvalidArgument",
            f"Invalid version id specified: {version!r} (objects here have only the "
            "'null' version)",
            bucket=req.bucket,
            key=req.key,
        )


async def serve(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    """GET or PUT ``?versioning`` on a bucket."""
    if req.key:
        raise S3Error("InvalidRequest", "?versioning is a bucket sub-resource, not an object's")
    records = records_for(ctx.store)
    if req.method == "GET":
        state = await ctx.call(records.bucket_versioning, req.bucket)
        return xml_response(
            document("VersioningConfiguration", el("Status", state) if state else "")
        )
    if req.method == "PUT":
        status = _requested_status(body)
        await ctx.call(records.put_bucket_versioning, req.bucket, status)
        return S3Response(200)
    raise S3Error(
        "MethodNotAllowed",
        f"The specified method ({req.method}) is not allowed against ?versioning.",
    )


def _requested_status(body: bytes | None) -> str:
    if not body:
        raise S3Error("MalformedXML", "PutBucketVersioning needs a <VersioningConfiguration>")
    root = parse(body)
    status = root.findtext("Status")
    mfa = root.findtext("MfaDelete")
    if root.tag != "VersioningConfiguration" or status not in ("Enabled", "Suspended"):
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema: <VersioningConfiguration> needs <Status>Enabled</Status> "
            "or <Status>Suspended</Status>",
        )
    if mfa not in (None, "Enabled", "Disabled"):
        raise S3Error("MalformedXML", f"<MfaDelete> must be Enabled or Disabled, not {mfa!r}")
    if mfa == "Enabled":
        raise not_implemented("MfaDelete (montemap has no MFA devices)")
    if status == "Enabled":
        raise not_implemented(
            "versioning Status=Enabled: montemap's object stores keep one version of each "
            "key, so versioned storage is not available (Suspended is kept and answered)"
        )
    return status


def list_versions(store: ObjectStore, bucket: str, query: dict[str, str]) -> str:
    """The ``ListVersionsResult`` of a bucket whose objects have only their ``null`` version."""
    name = encoder(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = parse_max_keys(query.get("max-keys"))
    key_marker = query.get("key-marker", "")
    version_marker = query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise S3Error(
            "InvalidArgument", "A version-id marker cannot be specified without a key marker."
        )
    if version_marker not in ("", NULL_VERSION):
        raise S3Error("InvalidArgument", f"Invalid version id specified: {version_marker!r}")
    listing = list_entries(store, bucket, prefix, delimiter, key_marker, max_keys)
    fields = [
        el("Name", bucket),
        el("Prefix", name(prefix)),
        el("KeyMarker", name(key_marker)),
        el("VersionIdMarker", version_marker),
        el("MaxKeys", max_keys),
        el("IsTruncated", listing.truncated),
    ]
    if delimiter:
        fields.append(el("Delimiter", name(delimiter)))
    if listing.truncated:
        fields.append(el("NextKeyMarker", name(listing.last)))
        if not listing.prefixes or listing.prefixes[-1] != listing.last:
            fields.append(el("NextVersionIdMarker", NULL_VERSION))
    if "encoding-type" in query:
        fields.append(el("EncodingType", "url"))
    items = [
        "<Version>"
        + el("Key", name(obj.key))
        + el("VersionId", NULL_VERSION)
        + el("IsLatest", True)
        + el("LastModified", object_time(obj.last_modified))
        + el("ETag", f'"{obj.etag}"')
        + el("Size", obj.size)
        + el("StorageClass", obj.storage_class)
        + _OWNER
        + "</Version>"
        for obj in listing.objects
    ]
    items += [f"<CommonPrefixes>{el('Prefix', name(p))}</CommonPrefixes>" for p in listing.prefixes]
    return document("ListVersionsResult", *fields, *items)

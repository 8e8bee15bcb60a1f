"""Bucket operations: ListBuckets, CreateBucket (``x-amz-acl``), HeadBucket, DeleteBucket,
listings (objects, versions, multipart uploads), GetBucketLocation and DeleteObjects."""

from __future__ import annotations

from montemap.s3api.acl import header_grants
from montemap.s3api.conditions import delete_conditionally
from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error, no_such_bucket, not_implemented
from montemap.s3api.listing import decode_token, encode_token, list_v1, list_v2
from montemap.s3api.multipart import list_uploads
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.versioning import NULL_VERSION, list_versions
from montemap.s3api.xmlio import document, el, object_time, parse, text
from montemap.storage import validate_new_bucket
from montemap.storage.records import records_for

OWNER = "<Owner><ID>montemap</ID><DisplayName>montemap</DisplayName></Owner>"
#: Most keys one DeleteObjects request may name (S3's limit).
MAX_DELETE = 1000


#: Most buckets one ListBuckets page may hold (S3's ``max-buckets`` ceiling).
MAX_BUCKETS = 10000


async def list_buckets(ctx: S3Context, req: S3Request) -> S3Response:
    """ListBuckets: by name, with ``prefix``, ``bucket-region``, ``max-buckets`` and
    ``continuation-token`` (the last name of the page before, encoded)."""
    query = req.query
    prefix = query.get("prefix", "")
    wanted = query.get("max-buckets")
    if wanted is not None and not (wanted.isdigit() and 1 <= int(wanted) <= MAX_BUCKETS):
        raise S3Error("InvalidArgument", f"max-buckets must be from 1 to {MAX_BUCKETS}")
    token = query.get("continuation-token")
    after = decode_token(token) if token else ""
    buckets = [
        b
        for b in await ctx.call(ctx.store.list_buckets)
        if b.name.startswith(prefix) and b.name > after
    ]
    if query.get("bucket-region", ctx.region) != ctx.region:
        buckets = []
    limit = int(wanted) if wanted is not None else len(buckets)
    page, more = buckets[:limit], len(buckets) > limit
    items = "".join(
        "<Bucket>"
        + el("Name", b.name)
        + el("CreationDate", object_time(b.created))
        + el("BucketRegion", ctx.region)
        + "</Bucket>"
        for b in page
    )
    fields = [OWNER, f"<Buckets>{items}</Buckets>"]
    if more:
        fields.append(el("ContinuationToken", encode_token(page[-1].name)))
    if "prefix" in query:
        fields.append(el("Prefix", prefix))
    return xml_response(document("ListAllMyBucketsResult", *fields))


#: The region where S3 answers a CreateBucket of a bucket you own with 200 OK (legacy).
LEGACY_REGION = "us-east-1"


def check_location(body: bytes, region: str) -> None:
    """The ``CreateBucketConfiguration`` of a CreateBucket, checked as S3 checks it.

    S3 refuses ``us-east-1`` named as a constraint (``InvalidLocationConstraint``: that
    region is the one named by none), and a regional endpoint refuses a constraint
    naming another region (``IllegalLocationConstraintException``). The us-east-1
    endpoint takes any other region: montemap, with one region, creates the bucket
    here. ``EU`` is S3's old name for eu-west-1.
    """
    if not body.strip():
        return
    root = parse(body)
    if root.tag != "CreateBucketConfiguration":
        raise S3Error(
            "MalformedXML", f"expected a <CreateBucketConfiguration> document, not <{root.tag}>"
        )
    constraint = (text(root, "LocationConstraint") or "").strip()
    if not constraint:
        return
    if constraint == LEGACY_REGION:
        raise S3Error("InvalidLocationConstraint", "The specified location-constraint is not valid")
    named = "eu-west-1" if constraint == "EU" else constraint
    if region != LEGACY_REGION and named != region:
        raise S3Error(
            "IllegalLocationConstraintException",
            f"The {constraint} location constraint is incompatible for the region specific "
            "endpoint this request was sent to.",
        )


async def create_bucket(ctx: S3Context, req: S3Request, body: bytes = b"") -> S3Response:
    """CreateBucket. Of a bucket that exists (montemap has one owner: yours), S3 answers
    ``BucketAlreadyOwnedByYou`` (409), but in us-east-1 200 OK, resetting the bucket's
    ACL (to the request's, else private); its objects are left alone."""
    await ctx.call(validate_new_bucket, req.bucket)
    check_location(body, ctx.region)
    if req.header("x-amz-bucket-object-lock-enabled").lower() == "true":
        raise not_implemented(
            "x-amz-bucket-object-lock-enabled (Object Lock needs versioned storage, which "
            "montemap does not keep)"
        )
    named = header_grants(req.headers)  # refused before the bucket exists
    if await ctx.call(ctx.store.bucket_exists, req.bucket):
        if ctx.region != LEGACY_REGION:
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                bucket=req.bucket,
            )
        records = records_for(ctx.store)
        recorded = await ctx.call(records.bucket_acl, req.bucket)
        if named is not None or recorded:
            await ctx.call(records.put_bucket_acl, req.bucket, *(named or ((), "private")))
        return S3Response().header("location", f"/{req.bucket}")
    await ctx.call(ctx.store.create_bucket, req.bucket)
    if named is not None:
        await ctx.call(records_for(ctx.store).put_bucket_acl, req.bucket, *named)
    return S3Response().header("location", f"/{req.bucket}")


async def head_bucket(ctx: S3Context, req: S3Request) -> S3Response:
    await _existing(ctx, req.bucket)
    return S3Response().header("x-amz-bucket-region", ctx.region)


async def delete_bucket(ctx: S3Context, req: S3Request) -> S3Response:
    await ctx.call(ctx.store.delete_bucket, req.bucket)
    return S3Response(204)


async def get_bucket(ctx: S3Context, req: S3Request) -> S3Response:
    """GET on a bucket: a listing (v1 or v2), or its location."""
    query = req.query
    if "location" in query:
        await _existing(ctx, req.bucket)
        constraint = "" if ctx.region == "us-east-1" else ctx.region
        body = f'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{constraint}</LocationConstraint>'
        return xml_response(body)
    if "uploads" in query:
        return await list_uploads(ctx, req)
    if "versions" in query:
        await _existing(ctx, req.bucket)
        return xml_response(
            await ctx.call(list_versions, ctx.store, req.bucket, query, small=False)
        )
    for sub in ("policy", "cors"):
        if sub in query:
            raise not_implemented(f"GET ?{sub} on a bucket")
    # A listing reads up to a thousand entries (and skips whole groups): off the loop.
    lister = list_v2 if query.get("list-type") == "2" else list_v1
    return xml_response(await ctx.call(lister, ctx.store, req.bucket, query, small=False))


async def delete_objects(ctx: S3Context, req: S3Request, body: bytes) -> S3Response:
    """POST ?delete: remove up to 1000 keys, reporting each."""
    root = parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML", f"expected a <Delete> document, not <{root.tag}>")
    objects = [
        (
            text(node, "Key"),
            text(node, "VersionId"),
            (text(node, "ETag"), text(node, "LastModifiedTime"), text(node, "Size")),
        )
        for node in root.findall("Object")
    ]
    if not objects or len(objects) > MAX_DELETE:
        raise S3Error("MalformedXML", f"name 1 to {MAX_DELETE} objects to delete")
    quiet = (text(root, "Quiet") or "").strip().lower() == "true"
    await _existing(ctx, req.bucket)
    results = []
    for key, version, conditions in objects:
        try:
            if not key:
                raise S3Error("InvalidArgument", "an object to delete has no Key")
            if version is not None and version != NULL_VERSION:  # never the object itself
                raise S3Error(
                    "InvalidArgument",
                    f"Invalid version id specified: {version!r} (objects here have only the "
                    "'null' version)",
                )
            await delete_conditionally(ctx, req.bucket, key, *conditions)
        except S3Error as exc:
            results.append(
                "<Error>"
                + el("Key", key or "")
                + el("Code", exc.code)
                + el("Message", exc.message)
                + "</Error>"
            )
            continue
        ctx.notify(req, "ObjectRemoved:Delete", key)
        if not quiet:
            named = el("VersionId", version) if version is not None else ""
            results.append("<Deleted>" + el("Key", key) + named + "</Deleted>")
    return xml_response(document("DeleteResult", *results))


async def _existing(ctx: S3Context, bucket: str) -> None:
    if not await ctx.call(ctx.store.bucket_exists, bucket):
        raise no_such_bucket(bucket)

"""ACLs: ``?acl`` on buckets and objects, ``x-amz-acl`` and ``x-amz-grant-*`` on writes.

ACLs are recorded and answered, never enforced (as IAM here): every request
that passes the signature check may do anything. A PUT names its ACL one way
only, as S3 requires: a canned ACL (``x-amz-acl``), grant headers
(``x-amz-grant-read: id="...", uri="..."``), or an ``AccessControlPolicy``
document.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from montemap.s3api.context import S3Context
from montemap.s3api.errors import S3Error
from montemap.s3api.request import S3Request
from montemap.s3api.response import S3Response, xml_response
from montemap.s3api.xmlio import document, el, parse
from montemap.storage.base import Grant, Grants
from montemap.storage.grants import CANNED, GROUPS, OWNER_ID, OWNER_NAME, PERMISSIONS
from montemap.storage.records import records_for

#: Each grant header and the permission it gives.
GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
OWNER = "<Owner>" + el("ID", OWNER_ID) + el("DisplayName", OWNER_NAME) + "</Owner>"


def canned(value: str) -> Grants:
    """The grants of a canned ACL; ``InvalidArgument`` for a name S3 does not know."""
    grants = CANNED.get(value.strip())
    if grants is None:
        raise S3Error(
            "InvalidArgument",
            f"x-amz-acl: {value!r} is not a canned ACL (one of {', '.join(CANNED)})",
        )
    return grants


def header_grants(headers: dict[str, str]) -> tuple[Grants, str] | None:
    """The ACL the request's headers name, with the canned ACL's name; ``None`` if none.

    ``InvalidRequest`` when both a canned ACL and grant headers are given.
    """
    named = [name for name in GRANT_HEADERS if name in headers]
    acl = headers.get("x-amz-acl")
    if acl is not None and named:
        raise S3Error(
            "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed"
        )
    if acl is not None:
        return canned(acl), acl.strip()
    if not named:
        return None
    grants: list[Grant] = [("CanonicalUser", OWNER_ID, "FULL_CONTROL")]
    for name in named:
        for item in headers[name].split(","):
            kind, _, value = item.strip().partition("=")
            grants.append(_grantee(kind.strip(), value.strip().strip('"'), GRANT_HEADERS[name]))
    return tuple(dict.fromkeys(grants)), ""


def _grantee(kind: str, value: str, permission: str) -> Grant:
    if kind == "id" and value:
        return ("CanonicalUser", value, permission)
    if kind == "uri" and value in GROUPS:
        return ("Group", value, permission)
    if kind == "emailAddress":
        raise S3Error(
            "UnresolvableGrantByEmailAddress",
            f"The e-mail address {value!r} does not match any account (montemap has none)",
        )
    raise S3Error("InvalidArgument", f"Invalid grantee {kind}={value!r} in a grant header")


def document_grants(body: bytes) -> Grants:
    """The grants of an ``AccessControlPolicy`` document; ``MalformedACLError`` otherwise."""
    try:
        root = parse(body)
    except S3Error:
        root = None
    acl = root.find("AccessControlList") if root is not None else None
    if root is None or root.tag != "AccessControlPolicy" or acl is None:
        raise _malformed("expected <AccessControlPolicy> with an <AccessControlList>")
    grants = [_document_grant(node) for node in acl]
    return tuple(dict.fromkeys(grants))


def _document_grant(node: ET.Element) -> Grant:
    grantee, permission = node.find("Grantee"), node.findtext("Permission")
    if node.tag != "Grant" or grantee is None or permission not in PERMISSIONS:
        raise _malformed("each <Grant> needs a <Grantee> and a <Permission> S3 knows")
    kind = grantee.get(f"{{{_XSI}}}type", "")
    if kind == "CanonicalUser" and grantee.findtext("ID"):
        return ("CanonicalUser", grantee.findtext("ID", ""), permission)
    if kind == "Group" and grantee.findtext("URI") in GROUPS:
        return ("Group", grantee.findtext("URI", ""), permission)
    if kind == "AmazonCustomerByEmail":
        return _grantee("emailAddress", grantee.findtext("EmailAddress", ""), permission)
    raise _malformed(f"a <Grantee> of xsi:type {kind!r} without a valid ID or URI")


def _malformed(why: str) -> S3Error:
    return S3Error(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published "
        f"schema: {why}",
    )


def request_grants(req: S3Request, body: bytes | None) -> tuple[Grants, str]:
    """The ACL a PutBucketAcl/PutObjectAcl sets, and the canned ACL's name if it named one."""
    from_headers = header_grants(req.headers)
    if from_headers is not None:
        if body:
            raise S3Error("UnexpectedContent", "This request does not support content")
        return from_headers
    if not body:
        raise S3Error(
            "MissingSecurityHeader",
            "Your request was missing a required header: x-amz-acl (or a grant header, or an "
            "AccessControlPolicy document)",
        )
    return document_grants(body), ""


def _effective(grants: Grants) -> frozenset[tuple[str, str, str]]:
    """The grants an ACL gives, in no order (none recorded: the owner's full control)."""
    return frozenset(grants or CANNED["private"])


def render(grants: Grants) -> str:
    items = []
    for kind, who, permission in grants or CANNED["private"]:
        if kind == "Group":
            grantee = el("URI", who)
        else:
            grantee = el("ID", who) + (el("DisplayName", OWNER_NAME) if who == OWNER_ID else "")
        items.append(
            f'<Grant><Grantee xmlns:xsi="{_XSI}" xsi:type="{kind}">{grantee}</Grantee>'
            + el("Permission", permission)
            + "</Grant>"
        )
    acl = "".join(items)
    return document("AccessControlPolicy", OWNER, f"<AccessControlList>{acl}</AccessControlList>")


async def serve(ctx: S3Context, req: S3Request, body: bytes | None) -> S3Response:
    """``?acl`` on an object or a bucket: GET or PUT."""
    records = records_for(ctx.store)
    bucket, key = req.bucket, req.key
    if req.method == "GET":
        if key:
            return xml_response(render(await ctx.call(records.object_acl, bucket, key)))
        return xml_response(render(await ctx.call(records.bucket_acl, bucket)))
    if req.method == "PUT":
        grants, name = request_grants(req, body)
        if key:
            before = () if ctx.notifier is None else await ctx.call(records.object_acl, bucket, key)
            await ctx.call(records.put_object_acl, bucket, key, grants, name)
            if ctx.notifier is not None and _effective(before) != _effective(grants):
                await ctx.notify_change(req, "ObjectAcl:Put")  # S3: no event for no change
        else:
            await ctx.call(records.put_bucket_acl, bucket, grants, name)
        return S3Response(200)
    raise S3Error(
        "MethodNotAllowed", f"The specified method ({req.method}) is not allowed against ?acl."
    )

"""ACL grants as montemap records them, and S3's canned ACLs.

A grant is ``(grantee type, ID or URI, permission)``: ``CanonicalUser`` with
an ID, or ``Group`` with one of S3's group URIs. montemap has one owner
(:data:`OWNER_ID`); grants are recorded and answered, never enforced.
"""

from __future__ import annotations

from montemap.storage.base import Grant, Grants, ObjectStoreError

#: The canonical user ID of the one owner of every bucket and object.
OWNER_ID = "montemap"
OWNER_NAME = "montemap"

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
PERMISSIONS = frozenset({"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"})

OWNER_FULL_CONTROL: Grant = ("CanonicalUser", OWNER_ID, "FULL_CONTROL")

#: The grants of each canned ACL S3 knows. The owner of a bucket and of its
#: objects is the same here, so the ``bucket-owner-*`` ACLs grant the owner
#: full control; ``aws-exec-read`` grants EC2 read access on AWS, which has no
#: meaning here.
CANNED: dict[str, Grants] = {
    "private": (OWNER_FULL_CONTROL,),
    "public-read": (OWNER_FULL_CONTROL, ("Group", ALL_USERS, "READ")),
    "public-read-write": (
        OWNER_FULL_CONTROL,
        ("Group", ALL_USERS, "READ"),
        ("Group", ALL_USERS, "WRITE"),
    ),
    "authenticated-read": (OWNER_FULL_CONTROL, ("Group", AUTHENTICATED_USERS, "READ")),
    "aws-exec-read": (OWNER_FULL_CONTROL,),
    "bucket-owner-read": (OWNER_FULL_CONTROL,),
    "bucket-owner-full-control": (OWNER_FULL_CONTROL,),
    "log-delivery-write": (
        OWNER_FULL_CONTROL,
        ("Group", LOG_DELIVERY, "WRITE"),
        ("Group", LOG_DELIVERY, "READ_ACP"),
    ),
}


def canned_name(grants: Grants) -> str:
    """The canned ACL that gives exactly ``grants`` (for a backend that takes only those)."""
    wanted = sorted(grants or CANNED["private"])
    for name, canned in CANNED.items():
        if sorted(canned) == wanted:
            return name
    raise ObjectStoreError(
        "NotImplemented",
        "the S3-backed store passes canned ACLs on; these grants match none of them",
    )

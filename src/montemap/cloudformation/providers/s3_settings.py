"""AWS::S3::Bucket's ``Tags``, ``VersioningConfiguration`` and ``AccessControl``.

Its other properties (encryption, lifecycle, CORS, notifications...) have no local
effect; the bucket's stack event names them.

They are kept as the S3 API keeps them (:mod:`montemap.storage.records`), so
``GetBucketTagging``, ``GetBucketVersioning`` and ``GetBucketAcl`` answer with
what the template says. The object store keeps one version of each object:
``Status: Enabled`` is accepted without effect and the stack event says so.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from montemap.cloudformation.errors import ResourceFailure
from montemap.cloudformation.providers.base import Request
from montemap.storage.base import ObjectStore, ObjectStoreError
from montemap.storage.grants import CANNED
from montemap.storage.records import records_for
from montemap.storage.tag_rules import BUCKET_TAG_LIMIT, tag_problem


def _tags(request: Request) -> tuple[tuple[str, str], ...] | None:
    given = request.properties.get("Tags")
    if not given:
        return None
    if not isinstance(given, list) or len(given) > BUCKET_TAG_LIMIT:
        raise ResourceFailure(
            f"Properties validation failed: Tags must be a list of at most {BUCKET_TAG_LIMIT}"
        )
    tags = tuple((str(t.get("Key", "")), str(t.get("Value", ""))) for t in given)
    problem = tag_problem(tags, BUCKET_TAG_LIMIT, what="Bucket")
    if problem is not None:
        raise ResourceFailure(f"Bucket tags: {problem}")
    return tags


def _canned(request: Request) -> str | None:
    given = request.properties.get("AccessControl")
    if given is None:
        return None
    name = re.sub(r"(?<!^)(?=[A-Z])", "-", str(given)).lower()
    if name not in CANNED:
        raise ResourceFailure(f"AccessControl {given} is not a canned ACL S3 knows")
    return name


def _apply(
    objects: ObjectStore, bucket: str, tags: Any, versioning: str | None, canned: str | None
) -> None:
    records = records_for(objects)
    records.put_bucket_tags(bucket, tags)
    if versioning == "Suspended":
        records.put_bucket_versioning(bucket, "Suspended")
    if canned is not None:
        records.put_bucket_acl(bucket, CANNED[canned], canned)


#: The bucket properties that act here; the others are recorded in the stack only.
_ACTING = frozenset({"BucketName", "Tags", "VersioningConfiguration", "AccessControl"})


def _unused_note(request: Request) -> None:
    """Say in the bucket's event which properties have no local effect (never silently)."""
    unused = sorted(k for k in request.properties if k not in _ACTING)
    if "NotificationConfiguration" in unused:
        unused.remove("NotificationConfiguration")
        request.notes.append(
            "NotificationConfiguration: accepted, no local effect (S3 event notifications are "
            "not sent here: the functions, queues and topics it names are never called)"
        )
    if unused:
        request.notes.append(f"{', '.join(unused)}: accepted, no local effect")


async def apply_settings(request: Request, bucket: str) -> None:
    """Record the template's tags, versioning state and canned ACL for ``bucket``."""
    _unused_note(request)
    tags, canned = _tags(request), _canned(request)
    config = request.properties.get("VersioningConfiguration") or {}
    versioning = str(config.get("Status")) if isinstance(config, dict) and config else None
    if versioning not in (None, "Enabled", "Suspended"):
        raise ResourceFailure(
            f"VersioningConfiguration Status {versioning} is not Enabled or Suspended"
        )
    if versioning == "Enabled":
        request.notes.append(
            "VersioningConfiguration Enabled: accepted, no local effect (the object store keeps "
            "one version of each object)"
        )
        versioning = None
    try:
        await asyncio.to_thread(_apply, request.services.objects, bucket, tags, versioning, canned)
    except ObjectStoreError as exc:
        raise ResourceFailure(f"Bucket {bucket}: its settings could not be recorded: {exc}")

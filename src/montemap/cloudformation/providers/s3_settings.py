"""AWS::S3::Bucket's ``Tags``, ``VersioningConfiguration``, ``AccessControl`` and
``NotificationConfiguration``'s ``LambdaConfigurations``.

Its other properties (encryption, lifecycle, CORS, notifications to queues, topics or
EventBridge...) have no local effect; the bucket's stack event names them.

They are kept as the S3 API keeps them (:mod:`montemap.storage.records`), so
``GetBucketTagging``, ``GetBucketVersioning`` and ``GetBucketAcl`` answer with
what the template says. The object store keeps one version of each object:
``Status: Enabled`` is accepted without effect and the stack event says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from montemap.cloudformation.errors import ResourceFailure
from montemap.cloudformation.providers.base import Request
from montemap.storage.base import ObjectStore, ObjectStoreError
from montemap.storage.grants import CANNED
from montemap.storage.notification_rules import Rule, rules_problem, rules_record
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


def _lambda_rule(given: Any, where: str) -> Rule:
    if not isinstance(given, dict) or not isinstance(given.get("Function"), str):
        raise ResourceFailure(f"{where} must be an object with Event and Function")
    event = given.get("Event")
    if not isinstance(event, str):
        raise ResourceFailure(f"{where}.Event must be one event type (a string)")
    filters: dict[str, str] = {}
    rules: Any = given.get("Filter") or {}
    for step in ("S3Key", "Rules"):
        rules = rules.get(step) if isinstance(rules, dict) else None
    rules = rules or []
    for rule in rules if isinstance(rules, list) else [None]:
        if not isinstance(rule, dict):
            raise ResourceFailure(f"{where}.Filter.S3Key.Rules must be a list of Name/Value")
        name = str(rule.get("Name", "")).lower()
        if name not in ("prefix", "suffix") or name in filters:
            raise ResourceFailure(
                f"{where}.Filter.S3Key.Rules: one prefix and one suffix rule at most"
            )
        filters[name] = str(rule.get("Value", ""))
    parts = (given["Function"], event, filters.get("prefix", ""), filters.get("suffix", ""))
    rule_id = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return Rule(rule_id, parts[0], (event,), parts[2], parts[3])


def _notifications(request: Request) -> list[Rule]:
    """The bucket's Lambda notification rules (none: the configuration is removed)."""
    config = request.properties.get("NotificationConfiguration") or {}
    if not isinstance(config, dict):
        raise ResourceFailure("NotificationConfiguration must be an object")
    for name, what in (
        ("QueueConfigurations", "SQS queues"),
        ("TopicConfigurations", "SNS topics"),
        ("EventBridgeConfiguration", "EventBridge"),
    ):
        if config.get(name):
            request.notes.append(
                f"NotificationConfiguration.{name}: accepted, no local effect ({what} are not "
                "served: these events are never sent)"
            )
    given = config.get("LambdaConfigurations") or []
    if not isinstance(given, list):
        raise ResourceFailure("NotificationConfiguration.LambdaConfigurations must be a list")
    where = "NotificationConfiguration.LambdaConfigurations"
    rules = [_lambda_rule(item, f"{where}[{i}]") for i, item in enumerate(given)]
    problem = rules_problem(rules)
    if problem is not None:
        raise ResourceFailure(f"Unable to put the bucket's notification configuration: {problem}")
    return rules


def _apply(
    objects: ObjectStore,
    bucket: str,
    tags: Any,
    versioning: str | None,
    canned: str | None,
    notifications: list[Rule],
) -> None:
    records = records_for(objects)
    records.put_bucket_tags(bucket, tags)
    if notifications or records.bucket_notification(bucket) is not None:
        records.put_bucket_notification(bucket, rules_record(notifications))
    if versioning == "Suspended":
        records.put_bucket_versioning(bucket, "Suspended")
    if canned is not None:
        records.put_bucket_acl(bucket, CANNED[canned], canned)


#: The bucket properties that act here; the others are recorded in the stack only.
_ACTING = frozenset(
    {"BucketName", "Tags", "VersioningConfiguration", "AccessControl"}
    | {"NotificationConfiguration"}
)


def _unused_note(request: Request) -> None:
    """Say in the bucket's event which properties have no local effect (never silently)."""
    unused = sorted(k for k in request.properties if k not in _ACTING)
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
    notifications = _notifications(request)
    try:
        await asyncio.to_thread(
            _apply, request.services.objects, bucket, tags, versioning, canned, notifications
        )
    except ObjectStoreError as exc:
        raise ResourceFailure(f"Bucket {bucket}: its settings could not be recorded: {exc}")

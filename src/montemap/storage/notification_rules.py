"""A bucket's event notification rules: which events of which keys go to which function.

The S3 API (:mod:`montemap.s3api.notification_config`, from S3's XML) and CloudFormation
(an ``AWS::S3::Bucket``'s ``NotificationConfiguration``) make the same :class:`Rule`
objects, checked by :func:`rules_problem` as S3 checks a configuration, and keep them
with the bucket (:meth:`~montemap.storage.records.RecordStore.put_bucket_notification`,
as :func:`rules_record` gives them).

A rule's ``prefix`` and ``suffix`` are matched against the key as the event message
carries it, URL-encoded (:func:`event_key`): S3 documents that a filter value with a
space is written with ``+`` and other special characters percent-encoded, so the filter
``year%3D2024/`` matches the key ``year=2024/a.csv`` and ``year=2024/`` matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

#: The event types S3 accepts in a configuration.
EVENT_TYPES = frozenset(
    {"s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post"}
    | {"s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload"}
    | {"s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"}
    | {"s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"}
    | {"s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*"}
    | {"s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked"}
    | {"s3:Replication:OperationMissedThreshold"}
    | {"s3:Replication:OperationReplicatedAfterThreshold", "s3:LifecycleExpiration:*"}
    | {"s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated"}
    | {"s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectTagging:*"}
    | {"s3:ObjectTagging:Put", "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put"}
)
#: S3's limit on the configurations of one bucket.
MAX_RULES = 100
ID_LIMIT = 255


def event_key(key: str) -> str:
    """``key`` as an event message names it: URL-encoded, a space as ``+``, ``/`` kept."""
    return quote_plus(key, safe="/")


@dataclass(frozen=True)
class Rule:
    """One ``CloudFunctionConfiguration``: events of keys with ``prefix`` and ``suffix``
    go to the function ``function_arn``."""

    id: str
    function_arn: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, event_name: str, key: str) -> bool:
        """Whether the event ``event_name`` (``ObjectCreated:Put``) of ``key`` is sent;
        the filter sees the key URL-encoded, as S3 matches it."""
        kind = event_name.split(":", 1)[0]
        wanted = f"s3:{event_name}" in self.events or f"s3:{kind}:*" in self.events
        encoded = event_key(key)
        return wanted and encoded.startswith(self.prefix) and encoded.endswith(self.suffix)

    def as_record(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Function": self.function_arn,
            "Events": list(self.events),
            "Prefix": self.prefix,
            "Suffix": self.suffix,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Rule:
        return cls(
            str(record["Id"]),
            str(record["Function"]),
            tuple(record["Events"]),
            str(record.get("Prefix", "")),
            str(record.get("Suffix", "")),
        )


def rules_from_record(record: dict[str, Any] | None) -> list[Rule]:
    """The rules a bucket's stored configuration holds (none when it has none)."""
    return [Rule.from_record(r) for r in (record or {}).get("lambda", [])]


def _event_parts(event: str) -> tuple[str, str]:
    """``("ObjectCreated", "Put")`` of ``s3:ObjectCreated:Put`` (``""`` for a type-less one)."""
    kind, _, sub = event.removeprefix("s3:").partition(":")
    return kind, sub


def _share_event(a: Rule, b: Rule) -> bool:
    for kind_a, sub_a in map(_event_parts, a.events):
        for kind_b, sub_b in map(_event_parts, b.events):
            if kind_a == kind_b and (sub_a == sub_b or "*" in (sub_a, sub_b)):
                return True
    return False


def rules_problem(rules: list[Rule]) -> str | None:
    """What S3 refuses in ``rules`` (``InvalidArgument``), or ``None``: too many, an event
    type S3 does not know, a duplicate id, two rules that overlap."""
    if len(rules) > MAX_RULES:
        return f"at most {MAX_RULES} configurations per bucket"
    for rule in rules:
        unknown = [e for e in rule.events if e not in EVENT_TYPES]
        if unknown:
            return f"The event is not supported for notifications: {unknown[0]}"
        if len(rule.id) > ID_LIMIT:
            return f"Configuration Id is longer than {ID_LIMIT} characters"
    if len({r.id for r in rules}) != len(rules):
        return "Configuration Id must be unique within the bucket"
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            prefixes = a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
            suffixes = a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)
            if prefixes and suffixes and _share_event(a, b):
                return (
                    "Configurations overlap. Configurations on the same bucket cannot share a"
                    f" common event type ({a.id!r} and {b.id!r})."
                )
    return None


def rules_record(rules: list[Rule]) -> dict[str, Any] | None:
    """What a bucket keeps for ``rules`` (None: no configuration)."""
    return {"lambda": [rule.as_record() for rule in rules]} if rules else None

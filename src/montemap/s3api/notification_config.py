"""A bucket's notification configuration: S3's XML document, checked, and its rules.

``PutBucketNotificationConfiguration`` takes ``CloudFunctionConfiguration`` entries
(boto3's ``LambdaFunctionConfigurations``): an ``Id``, the function's ARN
(``CloudFunction``), its ``Event`` types and an optional key ``Filter`` (one
``prefix`` and one ``suffix`` rule at most). What this server cannot deliver to is
refused rather than kept and never sent: topics (SNS) and queues (SQS) are
``InvalidArgument`` "Unable to validate the following destination configurations",
as S3 answers for a destination it cannot reach, and ``EventBridgeConfiguration`` is
``NotImplemented``. Two rules that share an event type and whose filters can both
match one key are S3's "Configurations overlap" refusal.
"""

from __future__ import annotations

import uuid
from typing import Any

from montemap.s3api.errors import S3Error
from montemap.s3api.xmlio import document, el, parse, text
from montemap.storage.notification_rules import ID_LIMIT, Rule, rules_problem


def parse_configuration(body: bytes) -> list[Rule]:
    """The rules of a ``NotificationConfiguration`` document, checked as S3 checks them."""
    root = parse(body)
    if root.tag != "NotificationConfiguration":
        raise S3Error("MalformedXML", f"expected <NotificationConfiguration>, got <{root.tag}>")
    unserved = {
        "TopicConfiguration": "SNS topics",
        "QueueConfiguration": "SQS queues",
        "TopicConfigurations": "SNS topics",
        "QueueConfigurations": "SQS queues",
    }
    for child in root:
        if child.tag in unserved:
            raise S3Error(
                "InvalidArgument",
                "Unable to validate the following destination configurations: montemap "
                f"delivers notifications to Lambda functions only, not to {unserved[child.tag]}",
            )
        if child.tag == "EventBridgeConfiguration":
            raise S3Error("NotImplemented", "EventBridge notifications are not served by montemap")
        if child.tag != "CloudFunctionConfiguration":
            raise S3Error("MalformedXML", f"unexpected <{child.tag}> in NotificationConfiguration")
    rules = [_rule(node) for node in root]
    problem = rules_problem(rules)
    if problem is not None:
        raise S3Error("InvalidArgument", problem)
    return rules


def _rule(node: Any) -> Rule:
    function_arn = text(node, "CloudFunction")
    if not function_arn:
        raise S3Error("InvalidArgument", "A CloudFunctionConfiguration needs its CloudFunction")
    events = tuple(e.text or "" for e in node.findall("Event"))
    if not events:
        raise S3Error("InvalidArgument", "A CloudFunctionConfiguration needs at least one Event")
    rule_id = text(node, "Id") or str(uuid.uuid4())
    if len(rule_id) > ID_LIMIT:
        raise S3Error("InvalidArgument", f"Configuration Id is longer than {ID_LIMIT} characters")
    prefix, suffix = _filter(node)
    return Rule(rule_id, function_arn, tuple(dict.fromkeys(events)), prefix, suffix)


def _filter(node: Any) -> tuple[str, str]:
    values: dict[str, str] = {}
    for rule in node.findall("Filter/S3Key/FilterRule"):
        name = (text(rule, "Name") or "").lower()
        if name not in ("prefix", "suffix"):
            raise S3Error(
                "InvalidArgument",
                f"filter rule name must be either prefix or suffix, got {text(rule, 'Name')!r}",
            )
        if name in values:
            raise S3Error(
                "InvalidArgument", f"Cannot specify more than one {name} rule in a filter."
            )
        values[name] = text(rule, "Value") or ""
    return values.get("prefix", ""), values.get("suffix", "")


def configuration_xml(rules: list[Rule]) -> str:
    """GetBucketNotificationConfiguration's document."""
    parts = []
    for rule in rules:
        filters = "".join(
            f"<FilterRule>{el('Name', name)}{el('Value', value)}</FilterRule>"
            for name, value in (("Prefix", rule.prefix), ("Suffix", rule.suffix))
            if value
        )
        parts.append(
            "<CloudFunctionConfiguration>"
            + el("Id", rule.id)
            + el("CloudFunction", rule.function_arn)
            + "".join(el("Event", e) for e in rule.events)
            + (f"<Filter><S3Key>{filters}</S3Key></Filter>" if filters else "")
            + "</CloudFunctionConfiguration>"
        )
    return document("NotificationConfiguration", *parts)

"""What ``montemap aws template`` is asked for, checked before anything is built."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from montemap.errors import MontemapError
from montemap.storage import ObjectStoreError, validate_bucket

DEFAULT_PREFIX = "montemap"
#: Short enough that ``<prefix>-results-<account>-<region>`` stays a valid bucket name.
_PREFIX_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")


class AwsError(MontemapError):
    """An AWS deployment request montemap cannot carry out; says what and where."""


@dataclass(frozen=True)
class TemplateOptions:
    """The choices a template is generated for (see :func:`build_template`).

    ``source_bucket``/``results_bucket``: existing buckets to use (None: the
    stack creates them). ``subnets``/``security_groups``: where the workers
    run (empty: the stack creates a VPC with private subnets and a NAT
    gateway). ``assign_public_ip``: give worker tasks public IPs, for subnets
    that reach the internet through an internet gateway rather than a NAT.
    """

    prefix: str = DEFAULT_PREFIX
    source_bucket: str | None = None
    results_bucket: str | None = None
    subnets: tuple[str, ...] = field(default_factory=tuple)
    security_groups: tuple[str, ...] = field(default_factory=tuple)
    assign_public_ip: bool = False

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise AwsError("; ".join(problems))

    @property
    def creates_network(self) -> bool:
        return not self.subnets


def split_ids(values: Iterable[str] | None) -> tuple[str, ...]:
    """Ids given as separate arguments, comma-separated, or both; blanks dropped."""
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


def _problems(o: TemplateOptions) -> Iterable[str]:
    if not isinstance(o.prefix, str) or not _PREFIX_RE.match(o.prefix):
        yield (
            f"--prefix {o.prefix!r} must be 1-20 characters of a-z, 0-9 and '-', starting "
            "with a letter and not ending with '-' (it starts bucket, function and role names)"
        )
    for flag, bucket in (
        ("--bucket-source", o.source_bucket),
        ("--bucket-results", o.results_bucket),
    ):
        if bucket is not None:
            try:
                validate_bucket(bucket)
            except ObjectStoreError as exc:
                yield f"{flag}: {exc}"
    if o.source_bucket is not None and o.source_bucket == o.results_bucket:
        yield "--bucket-source and --bucket-results must be different buckets"
    for subnet in o.subnets:
        if not _SUBNET_RE.match(subnet):
            yield f"--subnets: {subnet!r} is not a subnet id (subnet-0123abcd...)"
    for group in o.security_groups:
        if not _GROUP_RE.match(group):
            yield f"--security-groups: {group!r} is not a security group id (sg-0123abcd...)"
    if bool(o.subnets) != bool(o.security_groups):
        yield (
            "--subnets and --security-groups go together: give both (workers run in your "
            "network) or neither (the stack creates a VPC)"
        )
    if len(set(o.subnets)) != len(o.subnets) or len(set(o.security_groups)) != len(
        o.security_groups
    ):
        yield "--subnets and --security-groups must not repeat an id"
    if len(o.subnets) > 16 or len(o.security_groups) > 5:
        yield "ECS accepts at most 16 subnets and 5 security groups"
    if o.assign_public_ip and not o.subnets:
        yield "--assign-public-ip only applies to --subnets you give (the stack's VPC uses a NAT)"

"""Amazon Resource Names for the resources montemap serves.

The server has one region and one account id (configurable); ARNs look exactly
like AWS's so that SDKs, the CLI and users' scripts handle them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"

#: Names of state machines, executions and activities (AWS: 1-80 chars, no
#: whitespace, brackets, wildcards, special or control characters).
_NAME_RE = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")

_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>stateMachine|execution|express|activity|mapRun|stateMachineVersion):(?P<rest>.+)$"
)


def valid_name(name: str) -> bool:
    """Whether ``name`` is a valid state machine, execution or activity name."""
    return bool(_NAME_RE.match(name))


@dataclass(frozen=True)
class Arn:
    """A parsed states ARN: ``kind`` and the colon-separated ``parts`` after it."""

    region: str
    account: str
    kind: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, arn: str) -> Arn | None:
        m = _ARN_RE.match(arn)
        if not m:
            return None
        return cls(m["region"], m["account"], m["kind"], tuple(m["rest"].split(":")))


def split_version(state_machine_arn: str) -> tuple[str, str | None]:
    """``(state machine ARN, version ARN or None)`` for the ARN an execution started
    on: ``...:stateMachine:<name>:<n>`` names version ``n`` of ``...:stateMachine:<name>``."""
    head, sep, tail = state_machine_arn.rpartition(":")
    if sep and tail.isdigit() and ":stateMachine:" in head:
        return head, state_machine_arn
    return state_machine_arn, None


def resource_problem(arn: Arn) -> str | None:
    """Why the resource part of a parsed ARN does not name a resource of its kind.

    ``stateMachine:<name>[:<version or alias>]``, ``activity:<name>``,
    ``execution:<machine>[/<label>]:<name>`` (``express`` alike) and
    ``mapRun:<machine>/<label>:<id>``; None when the ARN is well formed.
    """
    parts = arn.parts
    if arn.kind in ("stateMachine", "activity"):
        qualifiers = 1 if arn.kind == "stateMachine" else 0
        if len(parts) > 1 + qualifiers:
            return f"Too many parts in a {arn.kind} ARN: {':'.join(parts)}"
        if len(parts) == 2 and not (parts[1].isdigit() or valid_name(parts[1])):
            return f"Invalid version or alias: {parts[1]}"
        return None if valid_name(parts[0]) else f"Invalid name: {parts[0]}"
    if arn.kind in ("execution", "express"):
        if len(parts) not in (2, 3):
            return (
                f"An execution ARN needs a state machine and an execution name: {':'.join(parts)}"
            )
        machine = parts[0].split("/", 1)
        if not valid_name(machine[0]) or (len(machine) == 2 and not machine[1]):
            return f"Invalid state machine name: {parts[0]}"
        bad = [part for part in parts[1:] if not valid_name(part)]
        return f"Invalid execution name: {bad[0]}" if bad else None
    if arn.kind == "mapRun":
        owner, _, label = parts[0].partition("/")
        if len(parts) != 2 or not valid_name(owner) or not label or not parts[1]:
            return f"A Map Run ARN needs <machine>/<label>:<id>: {':'.join(parts)}"
    return None


@dataclass(frozen=True)
class ServiceArns:
    """The ARN prefix of one AWS service (``SERVICE``) in one region and account."""

    SERVICE: ClassVar[str]
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    @property
    def prefix(self) -> str:
        return f"arn:aws:{self.SERVICE}:{self.region}:{self.account}"


@dataclass(frozen=True)
class ArnFactory(ServiceArns):
    """Builds Step Functions ARNs for one region and account."""

    SERVICE: ClassVar[str] = "states"

    def state_machine(self, name: str) -> str:
        return f"{self.prefix}:stateMachine:{name}"

    def execution(self, state_machine_name: str, name: str) -> str:
        return f"{self.prefix}:execution:{state_machine_name}:{name}"

    def express_execution(self, state_machine_name: str, name: str) -> str:
        return f"{self.prefix}:express:{state_machine_name}:{name}"

    def activity(self, name: str) -> str:
        return f"{self.prefix}:activity:{name}"

    def map_run(self, state_machine_name: str, label: str, run_id: str) -> str:
        return f"{self.prefix}:mapRun:{state_machine_name}/{label}:{run_id}"

"""Amazon Resource Names for the resources montemap serves.

The server has one region and one account id (configurable); ARNs look exactly
like AWS's so that SDKs, the CLI and users' scripts handle them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ArnFactory:
    """Builds ARNs for one region and account."""

    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    @property
    def prefix(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}"

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

"""Shared helpers: a CloudFormation client, waiting for a stack, its events."""

from __future__ import annotations

from typing import Any

from montemap.testing import MontemapServer, eventually


def finished(cfn: Any, name: str, timeout: float = 90.0) -> dict[str, Any]:
    """The stack once its operation ended (no status ``*_IN_PROGRESS``)."""

    def done() -> dict[str, Any] | None:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return None if stack["StackStatus"].endswith("IN_PROGRESS") else stack

    result: dict[str, Any] = eventually(done, timeout=timeout)
    return result


def events(cfn: Any, name: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason), oldest first."""
    found = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in reversed(found)
    ]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def client(server: MontemapServer, service: str = "cloudformation") -> Any:
    return server.client(service)


def activity_names(server: MontemapServer) -> set[str]:
    """The names of the server's activities (what a stack's Activity resources made)."""
    return {a["name"] for a in server.client().list_activities()["activities"]}

"""Task resources other than activities, bound to local things.

An :class:`Integration` handles every resource ARN that starts with its
prefix. The engine ships with integrations for the object store and for
"Lambda" functions registered by name; the worker service (ECS) and others
register themselves on the same :class:`IntegrationRegistry`.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from montemap.errors import RUNTIME, EvaluationError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall


class Integration(Protocol):
    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        """Run the call and return its result, or raise a StatesError."""
        ...


@runtime_checkable
class ServesSomeActions(Protocol):
    """An integration that serves only some of its service's actions."""

    def refusal(self, resource: str) -> str | None:
        """Why ``resource`` is not served (naming what is), or None when it is."""
        ...


class IntegrationRegistry:
    """Maps resource ARN prefixes to integrations (longest prefix wins)."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, Integration] = {}

    def register(self, prefix: str, integration: Integration) -> None:
        self._by_prefix[prefix] = integration

    def find(self, resource: str) -> Integration | None:
        best = None
        for prefix in sorted(self._by_prefix, key=len, reverse=True):
            if resource.startswith(prefix):
                best = self._by_prefix[prefix]
                break
        return best

    def require(self, resource: str) -> Integration:
        """The integration for ``resource``; a ``States.Runtime`` error naming the resources
        this server runs where none handles it, or naming the actions served where its
        integration serves only some (raised before the task is scheduled, so the history
        shows no TaskScheduled for a call that was never made, and neither Retry nor a
        ``States.ALL`` Catch takes it for a failure of the service)."""
        integration = self.find(resource)
        if integration is None:
            supported = ", ".join(f"{prefix}*" for prefix in sorted(self._by_prefix))
            raise EvaluationError(
                RUNTIME,
                f"The resource '{resource}' is not supported by this server{_unserved(resource)}."
                f" Supported resources: {supported}, and activity ARNs.",
            )
        if isinstance(integration, ServesSomeActions):
            refusal = integration.refusal(resource)
            if refusal is not None:
                raise EvaluationError(RUNTIME, refusal)
        return integration

    async def invoke(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        return await self.require(call.resource)(run, frame, call)


#: ``arn:<partition>:states:::aws-sdk:<service>:<action>`` or an optimized integration's
#: ``arn:<partition>:states:::<service>:<action>``: the service it calls.
_SERVICE_CALL = re.compile(r"arn:[\w-]+:states:::(?:aws-sdk:|(?!aws-sdk:))([a-z0-9][a-z0-9-]*):")


def _unserved(resource: str) -> str:
    """': montemap does not serve <the service>' for a call to a service of AWS's (an
    SDK or optimized integration), naming it as its API does; else nothing."""
    match = _SERVICE_CALL.match(resource)
    if match is None:
        return ""
    service = match.group(1)
    full_name = _full_name(service)
    named = f"{full_name} ('{service}')" if full_name else f"'{service}'"
    return f": montemap does not serve {named}"


@functools.lru_cache(maxsize=32)
def _full_name(service: str) -> str | None:
    """The service's name ("Amazon DynamoDB") from botocore's model of its API, when
    botocore has one under that name."""
    import botocore.exceptions  # here: only this error needs botocore
    import botocore.loaders

    try:
        model = botocore.loaders.create_loader().load_service_model(service, "service-2")
    except (botocore.exceptions.UnknownServiceError, botocore.exceptions.DataNotFoundError):
        return None
    name = model.get("metadata", {}).get("serviceFullName")
    return str(name) if name else None

"""What every resource provider is given and returns."""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from montemap.api.actions import Context as StatesContext
from montemap.cloudformation.errors import ResourceFailure
from montemap.ecs.ecs_api import EcsApi
from montemap.errors import ApiError
from montemap.lambda_api.service import LambdaService
from montemap.storage.base import ObjectStore

#: Custom resources that do not answer within this many seconds fail (AWS waits one hour).
DEFAULT_CUSTOM_RESOURCE_TIMEOUT = 300.0


@dataclass
class Services:
    """The server's parts the providers act through."""

    objects: ObjectStore
    states: StatesContext
    lambdas: LambdaService
    ecs: EcsApi
    region: str
    account: str
    endpoint: str
    #: Records of IAM roles and policies (:class:`montemap.cloudformation.iam.IamStore`).
    iam: Any
    #: Custom-resource responses: (token) -> awaitable of the response document.
    responses: Any
    custom_resource_timeout: float = DEFAULT_CUSTOM_RESOURCE_TIMEOUT
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """One resource operation of one stack."""

    services: Services
    stack_id: str
    stack_name: str
    logical_id: str
    resource_type: str
    properties: dict[str, Any]
    #: On update and delete: what the resource was.
    physical_id: str = ""
    old_properties: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Events a provider wants shown (e.g. a stand-in used): (status, reason).
    notes: list[str] = field(default_factory=list)

    def generated_name(self, *, limit: int = 64, lower: bool = False) -> str:
        """A unique name as CloudFormation makes them: ``stack-Logical-RANDOM``."""
        alphabet = string.ascii_uppercase + string.digits
        suffix = "".join(secrets.choice(alphabet) for _ in range(12))
        head = f"{self.stack_name}-{self.logical_id}"[: limit - 13]
        name = f"{head}-{suffix}"
        return name.lower() if lower else name


@dataclass
class Outcome:
    """A resource as it now exists: its physical id (what Ref gives) and its attributes."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """Creates, updates and deletes resources of some types."""

    async def create(self, request: Request) -> Outcome: ...

    async def update(self, request: Request) -> Outcome: ...

    async def delete(self, request: Request) -> None: ...


def required(request: Request, name: str) -> Any:
    value = request.properties.get(name)
    if value is None:
        raise ResourceFailure(f"Properties validation failed: required key [{name}] not found")
    return value


async def calling(action: Callable[[], Awaitable[Any]]) -> Any:
    """Run a service call; an API refusal becomes the resource's failure reason."""
    try:
        return await action()
    except ApiError as exc:
        raise ResourceFailure(f"{exc.message} (Service: {exc.code})")

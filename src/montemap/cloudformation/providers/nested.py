"""AWS::CloudFormation::Stack: a nested stack, deployed from a template in montemap's S3.

The provider hands the work to the server's stack engine (``Services.extra``
holds it as ``"nested_stacks"``, see :mod:`montemap.cloudformation.nested`):
providers do not import the engine, which imports them.
"""

from __future__ import annotations

from montemap.cloudformation.errors import ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Provider, Request

#: The key of :attr:`Services.extra` that holds the nested-stack engine.
NESTED_STACKS = "nested_stacks"


def _engine(request: Request) -> Provider:
    engine: Provider | None = request.services.extra.get(NESTED_STACKS)
    if engine is None:
        raise ResourceFailure("Nested stacks need the server's stack engine (not wired here)")
    return engine


class NestedStackProvider:
    async def create(self, request: Request) -> Outcome:
        return await _engine(request).create(request)

    async def update(self, request: Request) -> Outcome:
        return await _engine(request).update(request)

    async def delete(self, request: Request) -> None:
        await _engine(request).delete(request)

"""What every action shares: its context, the action table, and AWS's common refusals."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from montemap.api.engine_api import EngineApi
from montemap.api.registry import Registry
from montemap.arns import Arn, ArnFactory, resource_problem, valid_name
from montemap.engine.engine import parse_arn_cached
from montemap.errors import ApiError

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[["Context", Params], Coroutine[Any, Any, Result]]

#: Action name -> handler; filled by the ``@action`` decorators of the action modules.
ACTIONS: dict[str, Handler] = {}

#: AWS's quota of tags on one resource.
MAX_TAGS = 50


@dataclass(frozen=True)
class Context:
    """What an action works with: the engine and the API's own registry.

    ``bind_definition`` rewrites every definition a client sends before it is
    validated and stored (``montemap server --mapping FILE`` binds the ARNs of a
    definition written for AWS to local resources); the default keeps it.
    """

    engine: EngineApi
    registry: Registry
    bind_definition: Callable[[str], str] = lambda text: text

    @property
    def arns(self) -> ArnFactory:
        return self.registry.arns


def action(name: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the implementation of the API action ``name``."""

    def register(handler: Handler) -> Handler:
        if name in ACTIONS:
            raise ValueError(f"action {name} registered twice")
        ACTIONS[name] = handler
        return handler

    return register


def parse_arn(value: str, *kinds: str) -> Arn:
    """A states ARN of one of ``kinds``, else ``InvalidArn`` as AWS words it."""
    arn = parse_arn_cached(value) if isinstance(value, str) else None
    if arn is None:
        raise ApiError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {value}'")
    if arn.kind not in kinds:
        raise ApiError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn.kind}'"
        )
    return arn


#: What every ARN this server issues begins with (``montemap.arns.ArnFactory``).
LOCAL_PARTITION = "arn:aws:"


def parse_local_arn(ctx: Context, value: str, *kinds: str) -> Arn:
    """A well-formed states ARN of one of ``kinds`` in this server's region and account.

    Anything else is ``InvalidArn``, as AWS answers a malformed ARN or one of
    another region or account (nothing is looked up, deleted or created).
    """
    arn = parse_arn(value, *kinds)
    problem = resource_problem(arn)
    if problem is not None:
        raise ApiError("InvalidArn", f"Invalid Arn: '{problem}'")
    if not value.startswith(LOCAL_PARTITION):
        partition = value.split(":", 2)[1]
        raise ApiError(
            "InvalidArn",
            f"Invalid Arn: 'The ARN names partition {partition}; this endpoint serves "
            f"partition aws: {value}'",
        )
    if not is_local(ctx, arn):
        raise ApiError(
            "InvalidArn",
            f"Invalid Arn: 'The ARN names region {arn.region} and account {arn.account}; "
            f"this endpoint serves region {ctx.arns.region} and account {ctx.arns.account}: "
            f"{value}'",
        )
    return arn


def is_local(ctx: Context, arn: Arn) -> bool:
    """Whether an ARN names this server's region and account."""
    return arn.region == ctx.arns.region and arn.account == ctx.arns.account


def check_name(name: str) -> None:
    if not valid_name(name):
        raise ApiError("InvalidName", f"Invalid Name: '{name}'")


def check_encryption(config: dict[str, Any] | None) -> None:
    """``InvalidEncryptionConfiguration`` for a customer managed key without its key id
    (AWS's documented case; no key is looked up: nothing is encrypted here)."""
    if config and config.get("type") == "CUSTOMER_MANAGED_KMS_KEY" and not config.get("kmsKeyId"):
        raise ApiError(
            "InvalidEncryptionConfiguration",
            "Invalid Encryption Configuration: a CUSTOMER_MANAGED_KMS_KEY needs a kmsKeyId",
        )


def tags_from(params: Params) -> dict[str, str]:
    """``tags: [{key, value}]`` as a dict (a repeated key keeps the last value)."""
    tags: dict[str, str] = {}
    for index, tag in enumerate(params.get("tags") or []):
        if "key" not in tag:
            raise ApiError("ValidationException", f"tags[{index}] has no key: every tag needs one")
        tags[tag["key"]] = tag.get("value", "")
    return tags


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def check_tag_count(resource_arn: str, count: int) -> None:
    if count > MAX_TAGS:
        raise ApiError(
            "TooManyTags",
            f"Too many tags: '{resource_arn}' would have {count} tags; the limit is {MAX_TAGS}",
        )

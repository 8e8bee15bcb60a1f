"""What belongs to a function rather than to one of its versions: tags, reserved concurrency.

As on Lambda, tags apply to the function (``TagResource`` on a version's or an
alias's ARN is refused) and are not part of the configuration a published
version snapshots; reserved concurrency caps how many invocations of the
function run at once (0 stops every invocation), and further synchronous
calls are throttled (``TooManyRequestsException``, 429).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from montemap.lambda_api.errors import LambdaError, constraint, invalid, throttled
from montemap.lambda_api.names import parse_function_name
from montemap.lambda_api.store import FunctionStore

#: The account's concurrency quota, and what reserving may never leave less of (Lambda's).
ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
#: Lambda's quotas on deployment packages, as GetAccountSettings reports them.
_CODE_LIMITS = {
    "TotalCodeSize": 80530636800,
    "CodeSizeUnzipped": 262144000,
    "CodeSizeZipped": 52428800,
}
#: Tags on one resource, and the sizes of a key and a value (AWS's tagging rules).
MAX_TAGS = 50
_MAX_KEY, _MAX_VALUE = 128, 256
_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:.+$")

#: ``check(function)``: the name of the existing function ``function`` names, for changes
#: (``mutable``) or for reading; raises the Lambda refusal otherwise.
Lookup = Callable[[str, bool], str]


class FunctionSettings:
    """Tags and reserved concurrency, and the invocations running now, per function."""

    def __init__(self, store: FunctionStore, lookup: Lookup) -> None:
        self.store = store
        self._lookup = lookup
        self._running: dict[str, int] = {}

    # ------------------------------------------------------------------ tags

    def _tagged(self, resource: str, *, mutable: bool) -> str:
        if not _ARN_RE.match(resource):
            raise invalid(f"Resource '{resource}' is not a Lambda function ARN")
        if parse_function_name(resource).qualifier is not None:
            raise invalid(
                "Tags are not supported on function versions or aliases: "
                "tag the function's unqualified ARN"
            )
        return self._lookup(resource, mutable)

    def list_tags(self, resource: str) -> dict[str, Any]:
        return {"Tags": self.store.tags(self._tagged(resource, mutable=False))}

    def tag(self, resource: str, tags: object) -> None:
        name = self._tagged(resource, mutable=True)
        merged = {**self.store.tags(name), **check_tags(tags)}
        if len(merged) > MAX_TAGS:
            raise invalid(
                f"A function may have at most {MAX_TAGS} tags (it would have {len(merged)})"
            )
        self.store.put_tags(name, merged)

    def untag(self, resource: str, keys: list[str]) -> None:
        name = self._tagged(resource, mutable=True)
        if not keys:
            raise invalid("TagKeys must name at least one tag key")
        self.store.put_tags(name, {k: v for k, v in self.store.tags(name).items() if k not in keys})

    # ------------------------------------------------------------------ concurrency

    def put_concurrency(self, function: str, params: dict[str, Any]) -> dict[str, Any]:
        name = self._lookup(function, True)
        value = params.get("ReservedConcurrentExecutions")
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid("ReservedConcurrentExecutions must be a whole number")
        if value < 0:
            raise constraint(
                f"Value '{value}' at 'reservedConcurrentExecutions' failed to satisfy "
                "constraint: Member must have value greater than or equal to 0"
            )
        if ACCOUNT_CONCURRENCY - self.store.reserved_total(name) - value < MIN_UNRESERVED:
            raise invalid(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
            )
        self.store.put_reserved(name, value)
        return {"ReservedConcurrentExecutions": value}

    def get_concurrency(self, function: str) -> dict[str, Any]:
        reserved = self.store.reserved(self._lookup(function, False))
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    def delete_concurrency(self, function: str) -> None:
        self.store.put_reserved(self._lookup(function, True), None)

    def account_settings(self) -> dict[str, Any]:
        count, size = self.store.usage()
        unreserved = ACCOUNT_CONCURRENCY - self.store.reserved_total()
        return {
            "AccountLimit": {
                **_CODE_LIMITS,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": unreserved,
            },
            "AccountUsage": {"TotalCodeSize": size, "FunctionCount": count},
        }

    @asynccontextmanager
    async def running(self, name: str) -> AsyncIterator[None]:
        """One invocation of ``name`` runs: throttled past its reserved concurrency (the
        asynchronous queue tries a throttled event again once a slot is free)."""
        if not self._admit(name):
            raise throttled(
                "Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded"
            )
        try:
            yield
        finally:
            self._running[name] -= 1
            if not self._running[name]:
                del self._running[name]

    def _admit(self, name: str) -> bool:
        reserved = self.store.reserved(name)
        running = self._running.get(name, 0)
        if reserved is not None and running >= reserved:
            return False
        self._running[name] = running + 1
        return True


def check_tags(tags: object) -> dict[str, str]:
    """Tags as CreateFunction and TagResource take them (a map of strings)."""
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise invalid("Tags must map tag keys to string values")
    for key, value in tags.items():
        if not 1 <= len(key) <= _MAX_KEY:
            raise invalid(f"Tag key '{key}' must be 1 to {_MAX_KEY} characters long")
        if len(value) > _MAX_VALUE:
            raise invalid(f"The value of tag '{key}' must be at most {_MAX_VALUE} characters long")
    if len(tags) > MAX_TAGS:
        raise invalid(f"A function may have at most {MAX_TAGS} tags (got {len(tags)})")
    return dict(tags)


__all__ = ["FunctionSettings", "LambdaError", "check_tags"]

"""Lambda's operations by method and path (botocore's model), to name the one a request
this server does not serve asks for."""

from __future__ import annotations

import functools
import re
from collections.abc import Container
from dataclasses import dataclass

import botocore.loaders


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    query: str  # a query parameter the operation's path names ("find"), or ""
    name: str


def _pattern(uri: str) -> re.Pattern[str]:
    """``/2015-03-31/functions/{FunctionName}/url`` as a pattern of such paths."""
    parts = re.split(r"(\{[^}]+\})", uri.rstrip("/"))
    regex = "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{regex}/?$")


@functools.cache
def _routes() -> tuple[_Route, ...]:
    """Every operation of botocore's model, those a query parameter tells apart first."""
    model = botocore.loaders.create_loader().load_service_model("lambda", "service-2")
    routes = []
    for name, operation in model["operations"].items():
        http = operation["http"]
        uri, _, query = str(http["requestUri"]).partition("?")
        key = query.partition("=")[0]
        routes.append(_Route(str(http["method"]), _pattern(uri), key, str(name)))
    return tuple(sorted(routes, key=lambda route: route.query == ""))


def operation_at(method: str, path: str, query: Container[str] = ()) -> str | None:
    """The name of Lambda's operation at ``method`` ``path`` (with ``query``'s parameter
    names), or None."""
    for route in _routes():
        wanted = not route.query or route.query in query
        if route.method == method and wanted and route.path.match(path):
            return route.name
    return None

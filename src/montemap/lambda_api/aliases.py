"""Alias routing (weighted aliases) and alias paging, as Lambda has them.

An alias may send a share of its invocations to a second published version
(``RoutingConfig.AdditionalVersionWeights``: one version, a weight from 0.0 to
1.0). As on Lambda, such an alias cannot point at ``$LATEST``, the second
version must exist, differ from the first and have the same execution role;
an empty map removes the routing.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from montemap.lambda_api.errors import constraint, invalid, not_found

Config = dict[str, Any]
_VERSION_KEY = re.compile(r"[0-9]+")


def check_routing(
    routing: object,
    primary: Config,
    version_of: Callable[[str], Config | None],
    arn_of: Callable[[str], str],
) -> Config | None:
    """The alias's ``RoutingConfig`` to keep (None: no routing) for the ``primary`` version."""
    if routing is None:
        return None
    if not isinstance(routing, dict):
        raise invalid("RoutingConfig must be an object with AdditionalVersionWeights")
    weights = routing.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        raise invalid("RoutingConfig.AdditionalVersionWeights must map a version to a weight")
    if not weights:
        return None
    if len(weights) > 1:
        raise invalid(
            "An alias can point to at most 2 versions: AdditionalVersionWeights names "
            f"{len(weights)} versions, it may name 1"
        )
    ((version, weight),) = weights.items()
    if not isinstance(version, str) or not _VERSION_KEY.fullmatch(version):
        raise constraint(
            f"Value '{version}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
            "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
            "expression pattern: [0-9]+]"
        )
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        raise constraint(
            f"Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
            "constraint: Map value must satisfy constraint: [Member must have value less "
            "than or equal to 1.0, Member must have value greater than or equal to 0.0]"
        )
    if not primary["Version"].isdigit():
        raise invalid("$LATEST is not supported for an alias pointing to more than 1 version")
    if version == primary["Version"]:
        raise invalid(
            f"Invalid function version {version}: the alias already points to it "
            "(FunctionVersion); the additional version must be another one"
        )
    second = version_of(version)
    if second is None:
        raise not_found(f"Function not found: {arn_of(version)}")
    if second.get("Role") != primary.get("Role"):
        raise invalid(
            "The versions an alias points to must have the same execution role: "
            f"version {primary['Version']} and version {version} differ"
        )
    return {"AdditionalVersionWeights": {version: float(weight)}}


def pick_version(alias: Config, draw: Callable[[], float] = random.random) -> str:
    """The version one invocation of ``alias`` runs (its weighted routing applied)."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    for version, weight in weights.items():
        if draw() < float(weight):
            return str(version)
    return str(alias["FunctionVersion"])


def page(aliases: list[Config], marker: str, max_items: int) -> dict[str, Any]:
    """One ListAliases page: aliases by name after ``marker``, and the next marker."""
    after = [a for a in aliases if a["Name"] > marker] if marker else aliases
    out: dict[str, Any] = {"Aliases": after[:max_items]}
    if len(after) > max_items:
        out["NextMarker"] = after[max_items - 1]["Name"]
    return out

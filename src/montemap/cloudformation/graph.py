"""The order resources are created in: dependencies from Ref, GetAtt, Sub and DependsOn."""

from __future__ import annotations

from typing import Any

from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.intrinsics import references


def dependencies(
    resources: dict[str, Any], pseudo: set[str], parameters: set[str]
) -> dict[str, set[str]]:
    """Each resource's names of the resources it needs first.

    Raises :class:`TemplateError` for a reference to something the template
    does not declare (CloudFormation's "Unresolved resource dependencies").
    """
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        refs = references(resource.get("Properties", {}))
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        unknown = sorted(
            r
            for r in refs | set(depends)
            if r not in resources and r not in pseudo and r not in parameters
        )
        if unknown:
            raise TemplateError(
                f"Template format error: Unresolved resource dependencies [{', '.join(unknown)}] "
                "in the Resources block of the template"
            )
        # a resource that needs itself is a cycle of one, as on AWS
        graph[name] = {r for r in refs | set(depends) if r in resources}
    return graph


def creation_order(graph: dict[str, set[str]]) -> list[str]:
    """The resources in an order where each comes after what it needs (template order on ties).

    A cycle raises :class:`TemplateError` naming the resources in it.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done
    for start in graph:
        if state.get(start) == 2:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node] = 2
                order.append(node)
                continue
            nxt = pending.pop(0)
            if state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                raise TemplateError(
                    "Template error: Circular dependency between resources: "
                    f"[{', '.join(sorted(cycle))}]"
                )
            state[nxt] = 1
            path.append(nxt)
            stack.append((nxt, sorted(graph[nxt])))
    return order

"""A template made ready to deploy: parsed, parameters resolved, transformed, ordered."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from montemap.cloudformation import graph, language_extensions, parameters, rules, template
from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.intrinsics import Lookups, Resolver

PSEUDO = frozenset(
    {
        "AWS::Region",
        "AWS::AccountId",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::Partition",
        "AWS::URLSuffix",
        "AWS::NoValue",
        "AWS::NotificationARNs",
    }
)


@dataclass
class Plan:
    """Everything an operation needs to know about the template it deploys."""

    text: str
    template: dict[str, Any]
    parameters: dict[str, parameters.ParameterValue]
    order: list[str]
    graph: dict[str, set[str]]
    pseudo: dict[str, Any]
    #: Functions a transform adds (AWS::LanguageExtensions: Fn::Length, Fn::ToJsonString).
    functions: frozenset[str] = frozenset()

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def given(self) -> dict[str, str]:
        return {k: v.value for k, v in self.parameters.items()}

    def resolver(
        self,
        ref: Callable[[str], Any],
        attr: Callable[[str, str], Any],
        import_value: Callable[[str], str],
    ) -> Resolver:
        return Resolver(
            Lookups(
                parameters={k: v.resolved for k, v in self.parameters.items()},
                pseudo=self.pseudo,
                mappings=self.template.get("Mappings") or {},
                conditions=self.template.get("Conditions") or {},
                resource_ref=ref,
                resource_attr=attr,
                import_value=import_value,
                region=self.pseudo["AWS::Region"],
            ),
            self.functions,
        )


def pseudo_parameters(stack_name: str, stack_id: str, region: str, account: str) -> dict[str, Any]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


def parse(text: str) -> dict[str, Any]:
    """Parse only (format errors are refused at once, before any stack exists)."""
    return template.parse(text)


def prepare(
    text: str,
    given: dict[str, str],
    *,
    pseudo: dict[str, Any],
    previous: dict[str, str] | None = None,
) -> Plan:
    """The plan for deploying ``text``; raises :class:`TemplateError` saying what is wrong."""
    parsed = template.parse(text)
    values = parameters.resolve(parsed.get("Parameters") or {}, given, previous)
    rules.check(parsed.get("Rules"), parsed.get("Parameters") or {}, values, pseudo)
    expanded = template.expand(parsed, {k: v.resolved for k, v in values.items()}, pseudo=pseudo)
    resources = expanded.get("Resources") or {}
    for name, resource in resources.items():
        condition = resource.get("Condition")
        if condition is not None and condition not in (expanded.get("Conditions") or {}):
            raise TemplateError(
                f"Template format error: Unresolved dependencies [{condition}]. Cannot reference "
                f"resources in the Conditions block of the template ({name})"
            )
    deps = graph.dependencies(resources, set(PSEUDO), set(values))
    order = graph.creation_order(deps)
    extra = (
        language_extensions.FUNCTIONS
        if language_extensions.NAME in template.transforms(parsed)
        else frozenset()
    )
    return Plan(text, json.loads(json.dumps(expanded)), values, order, deps, pseudo, extra)

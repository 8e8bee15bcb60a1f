"""The template's ``Rules`` section: assertions on parameter values, checked before any resource.

Each rule has an optional ``RuleCondition`` and a list of ``Assertions``
(``Assert`` + ``AssertDescription``). When the condition holds (or there is
none) every assertion must be true; the first false one stops the operation
with its ``AssertDescription`` as the reason, as CloudFormation does, before
a resource is touched.

The rule functions are CloudFormation's: ``Fn::And``, ``Fn::Or``, ``Fn::Not``,
``Fn::Equals``, ``Fn::Contains``, ``Fn::EachMemberEquals``, ``Fn::EachMemberIn``,
``Fn::RefAll``, ``Fn::ValueOf``, ``Fn::ValueOfAll``, and ``Ref`` of a parameter.
There is no AWS account behind montemap: ``Fn::RefAll`` gives the values of
this template's parameters of that type, and ``Fn::ValueOf``/``Fn::ValueOfAll``
(attributes of VPCs, subnets... that exist only in an account) fail the rule
with a reason that says so.
"""

from __future__ import annotations

from typing import Any

from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.intrinsics import FUNCTIONS, Lookups, Resolver
from montemap.cloudformation.parameters import ParameterValue

RULE_FUNCTIONS = FUNCTIONS | {
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
}


def _no_resource(name: str, *_: Any) -> Any:
    raise TemplateError(
        f"Template error: the Rules section can refer to parameters only, not to {name}"
    )


class RuleResolver(Resolver):
    """A resolver that also knows the rule-specific functions."""

    functions = RULE_FUNCTIONS

    def __init__(self, lookups: Lookups, types: dict[str, str]) -> None:
        super().__init__(lookups)
        #: Declared type of every parameter.
        self.types = types

    def _strings(self, value: Any, where: str) -> list[str]:
        resolved = self.resolve(value)
        items = resolved if isinstance(resolved, list) else [resolved]
        return [self._text(item, where) for item in items]

    def _pair(self, args: Any, where: str) -> tuple[Any, Any]:
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError(f"Template error: {where} needs two arguments")
        return args[0], args[1]

    def _fn_Contains(self, args: Any) -> bool:
        values, wanted = self._pair(args, "Fn::Contains")
        return self._text(wanted, "Fn::Contains") in self._strings(values, "Fn::Contains")

    def _fn_EachMemberEquals(self, args: Any) -> bool:
        values, wanted = self._pair(args, "Fn::EachMemberEquals")
        text = self._text(wanted, "Fn::EachMemberEquals")
        return all(v == text for v in self._strings(values, "Fn::EachMemberEquals"))

    def _fn_EachMemberIn(self, args: Any) -> bool:
        checked, allowed = self._pair(args, "Fn::EachMemberIn")
        pool = set(self._strings(allowed, "Fn::EachMemberIn"))
        return all(v in pool for v in self._strings(checked, "Fn::EachMemberIn"))

    def _fn_RefAll(self, args: Any) -> list[str]:
        wanted = self._text(args, "Fn::RefAll")
        found: list[str] = []
        for name, declared in self.types.items():
            if declared == wanted or declared == f"List<{wanted}>":
                value = self.lookups.parameters.get(name)
                found.extend(value if isinstance(value, list) else [str(value)])
        return found

    def _fn_ValueOf(self, args: Any) -> Any:
        name, attribute = self._pair(args, "Fn::ValueOf")
        raise TemplateError(
            f"Template error: Fn::ValueOf [{name}, {attribute}] cannot be evaluated here: the "
            "attributes of AWS resources that parameters name exist only in an AWS account"
        )

    def _fn_ValueOfAll(self, args: Any) -> Any:
        kind, attribute = self._pair(args, "Fn::ValueOfAll")
        raise TemplateError(
            f"Template error: Fn::ValueOfAll [{kind}, {attribute}] cannot be evaluated here: the "
            "attributes of AWS resources that parameters name exist only in an AWS account"
        )


def check(
    rules: Any,
    declared: dict[str, Any],
    values: dict[str, ParameterValue],
    pseudo: dict[str, Any],
) -> None:
    """Raise :class:`TemplateError` with the description of the first failed assertion."""
    if rules is None:
        return
    if not isinstance(rules, dict):
        raise TemplateError("Template format error: Rules must be a mapping of rules")
    lookups = Lookups(
        parameters={k: v.resolved for k, v in values.items()},
        pseudo=pseudo,
        mappings={},
        conditions={},
        resource_ref=_no_resource,
        resource_attr=_no_resource,
        import_value=_no_resource,
        region=str(pseudo.get("AWS::Region", "us-east-1")),
    )
    types = {k: str(spec.get("Type", "String")) for k, spec in declared.items()}
    resolver = RuleResolver(lookups, types)
    for name, rule in rules.items():
        _check_rule(resolver, str(name), rule)


def _check_rule(resolver: RuleResolver, name: str, rule: Any) -> None:
    assertions = rule.get("Assertions") if isinstance(rule, dict) else None
    if not isinstance(assertions, list) or not assertions:
        raise TemplateError(f"Template format error: rule {name} needs a list of Assertions")
    if "RuleCondition" in rule and not _truth(resolver, rule["RuleCondition"], name):
        return
    for assertion in assertions:
        if not isinstance(assertion, dict) or "Assert" not in assertion:
            raise TemplateError(
                f"Template format error: every assertion of rule {name} needs Assert"
            )
        if not _truth(resolver, assertion["Assert"], name):
            description = assertion.get("AssertDescription")
            raise TemplateError(
                str(description) if description else f"Assertion of rule {name} failed"
            )


def _truth(resolver: RuleResolver, value: Any, name: str) -> bool:
    result = resolver.resolve(value)
    if not isinstance(result, bool):
        raise TemplateError(f"Template error: rule {name} has an assertion that is not a condition")
    return result

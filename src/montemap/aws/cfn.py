"""CloudFormation templates as Python data, written as plain YAML.

Intrinsic functions are written in their long forms (``{"Ref": X}``,
``{"Fn::Sub": S}``), so the YAML needs no custom tags: any YAML or JSON
reader, cfn-lint and CloudFormation all read it the same way.
"""

from __future__ import annotations

from typing import Any

import yaml

Json = Any
#: A CloudFormation template (or a piece of one) as Python data.
Template = dict[str, Any]


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(service: str, resource: str, *, regional: bool = True) -> dict[str, str]:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` for this stack's account."""
    where = "${AWS::Region}:${AWS::AccountId}" if regional else ":"
    return sub(f"arn:${{AWS::Partition}}:{service}:{where}:{resource}")


def statement(actions: list[str], resources: list[Json] | Json) -> dict[str, Any]:
    """One ``Allow`` statement of an IAM policy."""
    return {
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources if isinstance(resources, list) else [resources],
    }


def policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """An inline policy of an ``AWS::IAM::Role``."""
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }


def role(service: str, description: str, policies: list[dict[str, Any]]) -> Template:
    """An IAM role that ``service`` (``states.amazonaws.com``...) may assume."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": policies,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, multi-line strings as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key

    def ignore_aliases(self, data: Any) -> bool:
        return True  # CloudFormation rejects YAML anchors and aliases


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(template: Template) -> str:
    """The template as YAML text (long-form intrinsics, no tags)."""
    text: str = yaml.dump(
        template, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000
    )
    return text


def load_yaml(text: str) -> Template:
    """Read a template written by :func:`dump_yaml` (or any tag-free YAML/JSON one);
    ValueError (one line) for what does not parse."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        hint = ""
        if isinstance(exc, yaml.constructor.ConstructorError):
            hint = " (short forms such as !Ref are not read: write Ref: or Fn::Sub:)"
        raise ValueError(f"not valid YAML or JSON{where}: {problem}{hint}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ValueError("not a CloudFormation template: no Resources mapping at the top level")
    return data

"""What CloudFormation will make of the template, worked out offline.

Every resource the state machines refer to has a name fixed by the template,
so their ARNs, and so the definitions exactly as they will run on AWS, can
be computed for an account and region before anything is deployed. This
evaluates the intrinsic functions the template uses (``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``) for the resource types whose
names and ARNs are known in advance, and refuses anything else by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from montemap.aws.cfn import Template
from montemap.aws.options import AwsError
from montemap.aws.stack import STATE_MACHINES
from montemap.workflows import bindings

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_SUB_RE = re.compile(r"\$\{(!?)([^}]*)\}")


def partition_of(region: str) -> tuple[str, str]:
    """The partition and URL suffix of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


class Resolver:
    """Evaluates a template's intrinsic functions for one account and region."""

    def __init__(
        self,
        template: Template,
        *,
        account: str,
        region: str,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = "montemap",
    ) -> None:
        if not _ACCOUNT_RE.match(account):
            raise AwsError(f"account id {account!r} must be 12 digits")
        if not _REGION_RE.match(region):
            raise AwsError(f"region {region!r} does not look like an AWS region (eu-west-1)")
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        partition, suffix = partition_of(region)
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": partition,
            "AWS::URLSuffix": suffix,
            "AWS::StackName": stack_name,
        }
        self.parameters = dict(parameters or {})

    # ------------------------------------------------------------------ evaluation
    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function replaced by its value."""
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(self.value(i)) for i in self.value(items))
            if key.startswith("Fn::"):
                raise AwsError(f"cannot work out {key} offline")
        return {k: self.value(v) for k, v in node.items()}

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        params = self.template.get("Parameters", {})
        if name in params:
            if name in self.parameters:
                return self.parameters[name]
            if "Default" in params[name]:
                return str(params[name]["Default"])
            raise AwsError(f"parameter {name} has no default: give a value for it")
        kind, props = self._resource(name)
        if kind == "AWS::StepFunctions::Activity":
            return self._arn("states", f"activity:{props['Name']}")
        if kind == "AWS::StepFunctions::StateMachine":
            return self._arn("states", f"stateMachine:{props['StateMachineName']}")
        if kind == "AWS::ECS::Service":
            cluster = self.value(props["Cluster"])
            return self._arn("ecs", f"service/{cluster}/{props['ServiceName']}")
        if kind == "AWS::ECS::TaskDefinition":
            return self._arn("ecs", f"task-definition/{props['Family']}:1")
        names = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::ECS::Cluster": "ClusterName",
            "AWS::Logs::LogGroup": "LogGroupName",
        }
        if kind in names and names[kind] in props:
            return str(self.value(props[names[kind]]))
        raise AwsError(f"the physical id of {name} ({kind}) is only known once it is deployed")

    def get_att(self, name: str, attribute: str) -> str:
        kind, props = self._resource(name)
        if (kind, attribute) == ("AWS::Lambda::Function", "Arn"):
            return self._arn("lambda", f"function:{self.ref(name)}")
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{self.pseudo['AWS::Partition']}:s3:::{self.ref(name)}"
        if (kind, attribute) == ("AWS::ECS::Service", "Name"):
            return str(props["ServiceName"])
        if (kind, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            return self._arn("logs", f"log-group:{self.ref(name)}:*")
        if (kind, attribute) == ("AWS::ECS::Cluster", "Arn"):
            return self._arn("ecs", f"cluster/{self.ref(name)}")
        if (kind, attribute) == ("AWS::StepFunctions::StateMachine", "Arn"):
            return self.ref(name)
        raise AwsError(f"cannot work out {name}.{attribute} ({kind}) before it is deployed")

    # ------------------------------------------------------------------ helpers
    def _resource(self, name: str) -> tuple[str, dict[str, Any]]:
        resource = self.resources.get(name)
        if not isinstance(resource, dict):
            raise AwsError(f"the template has no parameter or resource {name!r}")
        return str(resource.get("Type")), dict(resource.get("Properties") or {})

    def _arn(self, service: str, resource: str) -> str:
        p = self.pseudo
        return f"arn:{p['AWS::Partition']}:{service}:{p['AWS::Region']}:{p['AWS::AccountId']}:{resource}"

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(m: re.Match[str]) -> str:
            literal, name = m.group(1), m.group(2)
            if literal:
                return "${" + name + "}"
            if name in variables:
                return str(self.value(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return _SUB_RE.sub(replace, text)


def aws_definitions(resolver: Resolver) -> dict[str, str]:
    """Each workflow's definition as Step Functions will run it (JSON text, by workflow)."""
    out = {}
    for workflow, logical_id in STATE_MACHINES.items():
        kind, props = resolver._resource(logical_id)
        if kind != "AWS::StepFunctions::StateMachine" or "Definition" not in props:
            raise AwsError(f"{logical_id} is not a state machine with an inline Definition")
        values = resolver.value(props.get("DefinitionSubstitutions", {}))
        text = json.dumps(props["Definition"], indent=2)
        try:
            out[workflow] = bindings.bind(text, values)
        except bindings.BindingError as exc:
            raise AwsError(f"{logical_id}: {exc}")
    return out


def aws_values(resolver: Resolver) -> dict[str, str]:
    """Every binding name's AWS value (``PartitionFunction`` -> the function's ARN...)."""
    values: dict[str, str] = {}
    for logical_id in STATE_MACHINES.values():
        _, props = resolver._resource(logical_id)
        values.update(resolver.value(props.get("DefinitionSubstitutions", {})))
    return values

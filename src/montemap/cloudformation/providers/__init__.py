"""Resource providers, one module per family; :func:`provider_for` picks one by type."""

from __future__ import annotations

from montemap.cloudformation.providers import accepted
from montemap.cloudformation.providers.accepted import AcceptedProvider
from montemap.cloudformation.providers.base import Outcome, Provider, Request, Services
from montemap.cloudformation.providers.custom import CustomResourceProvider
from montemap.cloudformation.providers.ecs import (
    ClusterProvider,
    ServiceProvider,
    TaskDefinitionProvider,
)
from montemap.cloudformation.providers.event_invoke import EventInvokeConfigProvider
from montemap.cloudformation.providers.iam import (
    InstanceProfileProvider,
    ManagedPolicyProvider,
    PolicyProvider,
    RolePolicyProvider,
    RoleProvider,
)
from montemap.cloudformation.providers.lambdas import (
    AliasProvider,
    FunctionProvider,
    VersionProvider,
)
from montemap.cloudformation.providers.nested import NestedStackProvider
from montemap.cloudformation.providers.s3 import BucketProvider
from montemap.cloudformation.providers.stepfunctions import ActivityProvider, StateMachineProvider
from montemap.cloudformation.providers.stepfunctions_versions import (
    StateMachineAliasProvider,
    StateMachineVersionProvider,
)

#: The resource types that act here, and their providers.
ACTING: dict[str, Provider] = {
    "AWS::S3::Bucket": BucketProvider(),
    "AWS::StepFunctions::StateMachine": StateMachineProvider(),
    "AWS::StepFunctions::Activity": ActivityProvider(),
    "AWS::StepFunctions::StateMachineVersion": StateMachineVersionProvider(),
    "AWS::StepFunctions::StateMachineAlias": StateMachineAliasProvider(),
    "AWS::Lambda::Function": FunctionProvider(),
    "AWS::Lambda::Version": VersionProvider(),
    "AWS::Lambda::Alias": AliasProvider(),
    "AWS::Lambda::EventInvokeConfig": EventInvokeConfigProvider(),
    "AWS::ECS::Cluster": ClusterProvider(),
    "AWS::ECS::TaskDefinition": TaskDefinitionProvider(),
    "AWS::ECS::Service": ServiceProvider(),
    "AWS::IAM::Role": RoleProvider(),
    "AWS::IAM::Policy": PolicyProvider(),
    "AWS::IAM::RolePolicy": RolePolicyProvider(),
    "AWS::IAM::ManagedPolicy": ManagedPolicyProvider(),
    "AWS::IAM::InstanceProfile": InstanceProfileProvider(),
    "AWS::CloudFormation::CustomResource": CustomResourceProvider(),
    "AWS::CloudFormation::Stack": NestedStackProvider(),
}
_CUSTOM = CustomResourceProvider()
_ACCEPTED = AcceptedProvider()


def provider_for(resource_type: str) -> Provider | None:
    """The provider of ``resource_type``; None for a type montemap does not know."""
    if resource_type in ACTING:
        return ACTING[resource_type]
    if resource_type.startswith("Custom::"):
        return _CUSTOM
    if accepted.accepts(resource_type):
        return _ACCEPTED
    return None


__all__ = ["ACTING", "Outcome", "Provider", "Request", "Services", "provider_for"]

"""Resource types with no local meaning: recorded as created, listed as "accepted, no local effect".

Networking, logging, permissions, alarms and schedules describe the AWS
account around the resources; on one machine there is nothing for them to
do. Their ``Ref`` and ``Fn::GetAtt`` give identifiers of the shapes AWS gives
(:mod:`accepted_shapes`): names, ids and ARNs that templates may take apart.
"""

from __future__ import annotations

from montemap.cloudformation.diff import create_only
from montemap.cloudformation.errors import NeedsReplacement
from montemap.cloudformation.providers.accepted_shapes import identify, refreshed
from montemap.cloudformation.providers.base import Outcome, Request

#: The status reason their events carry.
REASON = "accepted, no local effect"
#: Whole service namespaces accepted.
PREFIXES = (
    "AWS::EC2::",
    "AWS::Logs::",
    "AWS::CloudWatch::",
    "AWS::Events::",
    "AWS::ApplicationAutoScaling::",
    "AWS::ElasticLoadBalancingV2::",
    "AWS::KMS::",
    "AWS::SNS::",
    "AWS::SecretsManager::",
    "AWS::SSM::",
    "AWS::ECR::",
    "AWS::Scheduler::",
    "AWS::Route53::",
)
#: Single types accepted.
TYPES = frozenset(
    {
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventSourceMapping",
        "AWS::S3::BucketPolicy",
        "AWS::IAM::User",
        "AWS::IAM::Group",
        "AWS::IAM::AccessKey",
        "AWS::CloudFormation::WaitConditionHandle",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::ServiceDiscovery::Service",
        "AWS::ECS::CapacityProvider",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        # SAM's DeploymentPreference for a function's AutoPublishAlias
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
    }
)
#: What some types' events say beside :data:`REASON`.
NOTES = {
    "AWS::CodeDeploy::DeploymentGroup": (
        "no gradual deployment here: the alias moves to the new version at once, and no "
        "hooks or alarms are run"
    ),
}


def _reason(resource_type: str) -> str:
    note = NOTES.get(resource_type)
    return f"{REASON} ({note})" if note else REASON


def accepts(resource_type: str) -> bool:
    return resource_type in TYPES or resource_type.startswith(PREFIXES)


class AcceptedProvider:
    async def create(self, request: Request) -> Outcome:
        physical, attributes = identify(request)
        request.notes.append(_reason(request.resource_type))
        return Outcome(physical, attributes)

    async def update(self, request: Request) -> Outcome:
        # a property only creation sets (a log group's name, a topic's...) makes a new one,
        # with new identifiers, as the change set said (Replacement: True)
        changed = sorted(
            name
            for name in create_only(request.resource_type)
            if request.properties.get(name) != request.old_properties.get(name)
        )
        if changed:
            raise NeedsReplacement(f"{', '.join(changed)} cannot change (a replacement)")
        request.notes.append(_reason(request.resource_type))
        return Outcome(request.physical_id, refreshed(request))

    async def delete(self, request: Request) -> None:
        return None

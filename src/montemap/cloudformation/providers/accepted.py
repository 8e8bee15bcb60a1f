"""Resource types with no local meaning: recorded as created, listed as "accepted, no local effect".

Networking, logging, permissions, alarms and schedules describe the AWS
account around the resources; on one machine there is nothing for them to
do. Their ``Ref`` is a generated id; every ``Fn::GetAtt`` of them gives it too.
"""

from __future__ import annotations

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
        "AWS::Lambda::EventInvokeConfig",
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
    }
)


def accepts(resource_type: str) -> bool:
    return resource_type in TYPES or resource_type.startswith(PREFIXES)


class AcceptedProvider:
    async def create(self, request: Request) -> Outcome:
        physical = request.generated_name(limit=64)
        request.notes.append(REASON)
        return Outcome(physical, {"*": physical})

    async def update(self, request: Request) -> Outcome:
        request.notes.append(REASON)
        return Outcome(request.physical_id, {"*": request.physical_id})

    async def delete(self, request: Request) -> None:
        return None

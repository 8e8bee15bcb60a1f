"""What ``Ref`` and ``Fn::GetAtt`` give for resources accepted without effect.

They do nothing here, but templates take their identifiers apart as they would
on AWS (``!Select [6, !Split [":", !GetAtt Logs.Arn]]`` is a log group's name)
or pass them where an ARN is expected. So each gets identifiers of the shape
its type's documentation gives: a name (the one the template sets, else a
generated ``stack-Logical-RANDOM``), an id (``vpc-0123...``, a key's UUID) or an
ARN. A type not listed gives its name to ``Ref`` and to every attribute but
``Arn``, an ARN of the type's service (``arn:aws:<service>:...:<type>/<name>``).
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from montemap.cloudformation.providers.base import Request


@dataclass(frozen=True)
class Shape:
    """How one type names itself.

    ``ref`` and each ``attributes`` value is ``name``, ``id``, ``arn`` or
    ``property:Name`` (that property's value as the template gave it).
    """

    ref: str = "name"
    #: The property whose value, when set, is the resource's name.
    name_property: str = ""
    #: The ARN's format: ``{partition}``, ``{region}``, ``{account}``, ``{name}``, ``{id}``.
    arn: str = ""
    #: EC2's ids (``vpc-``, ``sg-``...); ``uuid`` for a UUID; empty: the id is the name.
    id_prefix: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    #: Names are lower case (an ECR repository's).
    lower: bool = False
    #: The longest generated name (a load balancer's or target group's: 32).
    limit: int = 64


def _arn(service: str, resource: str, *, regional: bool = True) -> str:
    region = "{region}" if regional else ""
    return f"arn:{{partition}}:{service}:{region}:{{account}}:{resource}"


#: Types whose identifiers templates commonly take apart or pass on.
SHAPES: dict[str, Shape] = {
    "AWS::Logs::LogGroup": Shape(
        name_property="LogGroupName", arn=_arn("logs", "log-group:{name}:*")
    ),
    "AWS::SNS::Topic": Shape(
        ref="arn",
        name_property="TopicName",
        arn=_arn("sns", "{name}"),
        attributes={"TopicArn": "arn", "TopicName": "name"},
    ),
    "AWS::Events::Rule": Shape(name_property="Name", arn=_arn("events", "rule/{name}")),
    "AWS::Events::EventBus": Shape(
        name_property="Name", arn=_arn("events", "event-bus/{name}"), attributes={"Name": "name"}
    ),
    "AWS::KMS::Key": Shape(
        ref="id", arn=_arn("kms", "key/{id}"), id_prefix="uuid", attributes={"KeyId": "id"}
    ),
    "AWS::KMS::Alias": Shape(name_property="AliasName"),
    "AWS::SecretsManager::Secret": Shape(
        ref="arn",
        name_property="Name",
        arn=_arn("secretsmanager", "secret:{name}-{id}"),
        id_prefix="suffix",
        attributes={"Id": "arn", "SecretId": "arn"},
    ),
    "AWS::SSM::Parameter": Shape(
        name_property="Name", attributes={"Type": "property:Type", "Value": "property:Value"}
    ),
    "AWS::ECR::Repository": Shape(
        name_property="RepositoryName",
        arn=_arn("ecr", "repository/{name}"),
        attributes={"RepositoryUri": "uri"},
        lower=True,
    ),
    "AWS::CloudWatch::Alarm": Shape(
        name_property="AlarmName", arn=_arn("cloudwatch", "alarm:{name}")
    ),
    "AWS::Scheduler::Schedule": Shape(
        name_property="Name", arn=_arn("scheduler", "schedule/default/{name}")
    ),
    "AWS::Scheduler::ScheduleGroup": Shape(
        name_property="Name", arn=_arn("scheduler", "schedule-group/{name}")
    ),
    "AWS::IAM::User": Shape(
        name_property="UserName", arn=_arn("iam", "user/{name}", regional=False)
    ),
    "AWS::IAM::Group": Shape(
        name_property="GroupName", arn=_arn("iam", "group/{name}", regional=False)
    ),
    "AWS::EC2::VPC": Shape(
        ref="id",
        id_prefix="vpc",
        attributes={
            "VpcId": "id",
            "CidrBlock": "property:CidrBlock",
            "DefaultSecurityGroup": "sg",
            "DefaultNetworkAcl": "acl",
        },
    ),
    "AWS::EC2::Subnet": Shape(
        ref="id",
        id_prefix="subnet",
        attributes={
            "SubnetId": "id",
            "VpcId": "property:VpcId",
            "AvailabilityZone": "property:AvailabilityZone",
            "CidrBlock": "property:CidrBlock",
        },
    ),
    "AWS::EC2::SecurityGroup": Shape(
        ref="id", id_prefix="sg", attributes={"GroupId": "id", "VpcId": "property:VpcId"}
    ),
    "AWS::EC2::InternetGateway": Shape(
        ref="id", id_prefix="igw", attributes={"InternetGatewayId": "id"}
    ),
    "AWS::EC2::RouteTable": Shape(ref="id", id_prefix="rtb", attributes={"RouteTableId": "id"}),
    "AWS::EC2::NatGateway": Shape(ref="id", id_prefix="nat", attributes={"NatGatewayId": "id"}),
    "AWS::EC2::EIP": Shape(ref="id", id_prefix="eipalloc", attributes={"AllocationId": "id"}),
    "AWS::EC2::VPCEndpoint": Shape(ref="id", id_prefix="vpce", attributes={"Id": "id"}),
    "AWS::EC2::Instance": Shape(ref="id", id_prefix="i", attributes={"InstanceId": "id"}),
    "AWS::EC2::LaunchTemplate": Shape(
        ref="id", id_prefix="lt", attributes={"LaunchTemplateId": "id"}
    ),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": Shape(
        ref="arn",
        name_property="Name",
        arn=_arn("elasticloadbalancing", "loadbalancer/app/{name}/{id}"),
        id_prefix="hex",
        attributes={
            "LoadBalancerArn": "arn",
            "LoadBalancerName": "name",
            "LoadBalancerFullName": "full",
            "DNSName": "dns",
        },
        limit=32,
    ),
    "AWS::ElasticLoadBalancingV2::TargetGroup": Shape(
        ref="arn",
        name_property="Name",
        arn=_arn("elasticloadbalancing", "targetgroup/{name}/{id}"),
        id_prefix="hex",
        attributes={
            "TargetGroupArn": "arn",
            "TargetGroupName": "name",
            "TargetGroupFullName": "tg",
        },
        limit=32,
    ),
    "AWS::ElasticLoadBalancingV2::Listener": Shape(
        ref="arn",
        arn=_arn("elasticloadbalancing", "listener/app/{name}/{id}/{id}"),
        id_prefix="hex",
        attributes={"ListenerArn": "arn"},
        limit=32,
    ),
    "AWS::Lambda::EventSourceMapping": Shape(ref="id", id_prefix="uuid", attributes={"Id": "id"}),
}


def _hex_id(prefix: str) -> str:
    return f"{prefix}-0{secrets.token_hex(8)}"


def _new_id(shape: Shape) -> str:
    if shape.id_prefix == "uuid":
        return str(uuid.uuid4())
    if shape.id_prefix == "hex":
        return secrets.token_hex(8)
    if shape.id_prefix == "suffix":
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(6))
    return _hex_id(shape.id_prefix) if shape.id_prefix else ""


def identify(request: Request) -> tuple[str, dict[str, Any]]:
    """A new resource's physical id and attributes (``*``: any attribute not listed)."""
    shape = SHAPES.get(request.resource_type, Shape())
    given = request.properties.get(shape.name_property) if shape.name_property else None
    name = (
        str(given) if isinstance(given, (str, int)) else request.generated_name(limit=shape.limit)
    )
    if shape.lower:
        name = name.lower()
    ident = _new_id(shape) or name
    services = request.services
    fields = {
        "partition": "aws",
        "region": services.region,
        "account": services.account,
        "name": name,
        "id": ident,
    }
    arn = (shape.arn or _generic_arn(request.resource_type)).format(**fields)
    values = {
        "name": name,
        "id": ident,
        "arn": arn,
        "uri": f"{services.account}.dkr.ecr.{services.region}.amazonaws.com/{name}",
        "sg": _hex_id("sg"),
        "acl": _hex_id("acl"),
        "full": f"app/{name}/{ident}",
        "tg": f"targetgroup/{name}/{ident}",
        "dns": f"{name}-{secrets.randbelow(10**9)}.{services.region}.elb.amazonaws.com",
    }
    attributes: dict[str, Any] = {"*": name if shape.ref != "id" else ident, "Arn": arn}
    for attribute, source in shape.attributes.items():
        if source.startswith("property:"):
            attributes[attribute] = request.properties.get(source.removeprefix("property:"), "")
        else:
            attributes[attribute] = values[source]
    return str(values[shape.ref]), attributes


def _generic_arn(resource_type: str) -> str:
    """``arn:aws:<service>:<region>:<account>:<type>/<name>`` for a type not listed."""
    parts = resource_type.split("::")
    service = parts[1].lower() if len(parts) == 3 else "unknown"
    kind = parts[-1].lower()
    # IAM, Route 53 and CloudFront are global: their ARNs have no region
    regional = service not in ("iam", "route53", "cloudfront")
    return _arn(service, f"{kind}/{{name}}", regional=regional)


def refreshed(request: Request) -> dict[str, Any]:
    """An updated resource's attributes: its own, those read from properties read again."""
    attributes = {k: v for k, v in request.attributes.items() if not k.startswith("_")}
    if not attributes:  # recorded before its type had a shape
        return {"*": request.physical_id}
    shape = SHAPES.get(request.resource_type, Shape())
    for attribute, source in shape.attributes.items():
        if source.startswith("property:"):
            attributes[attribute] = request.properties.get(source.removeprefix("property:"), "")
    return attributes

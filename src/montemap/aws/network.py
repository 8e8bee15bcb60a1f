"""Where the workers run: the subnets and security groups given, or a small VPC.

The VPC the stack creates has two private subnets (two availability zones, so
Fargate Spot can find capacity in either) whose only way out is one NAT
gateway in a public subnet, plus a free S3 gateway endpoint so that loan
objects, results and image layers (ECR keeps them in S3) bypass the NAT's
per-GB charge. The workers' security group admits nothing and lets out only
HTTPS, which is all they speak (Step Functions, S3, ECR, CloudWatch Logs).
"""

from __future__ import annotations

from typing import Any

from montemap.aws.cfn import Json, Template, get_att, ref
from montemap.aws.options import TemplateOptions

CIDR = "10.42.0.0/16"
PUBLIC_CIDR = "10.42.0.0/24"
PRIVATE_CIDRS = ("10.42.16.0/20", "10.42.32.0/20")
PRIVATE_SUBNETS = ("PrivateSubnetA", "PrivateSubnetB")


def _az(index: int) -> dict[str, Any]:
    return {"Fn::Select": [index, {"Fn::GetAZs": ""}]}


def _tags(prefix: str, name: str) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": f"{prefix}-{name}"}]


def network_resources(options: TemplateOptions) -> Template:
    """The VPC's resources (none when subnets are given)."""
    if not options.creates_network:
        return {}
    p = options.prefix
    return {
        **_vpc(p),
        **_public_subnet(p),
        **_private_routing(p),
        **_worker_security_group(p),
        **_private_subnets(p),
    }


def _vpc(p: str) -> Template:
    """The VPC and its internet gateway."""
    return {
        "Vpc": {
            "Type": "AWS::EC2::VPC",
            "Properties": {
                "CidrBlock": CIDR,
                "EnableDnsHostnames": True,
                "EnableDnsSupport": True,
                "Tags": _tags(p, "vpc"),
            },
        },
        "InternetGateway": {
            "Type": "AWS::EC2::InternetGateway",
            "Properties": {"Tags": _tags(p, "igw")},
        },
        "InternetGatewayAttachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": ref("Vpc"), "InternetGatewayId": ref("InternetGateway")},
        },
    }


def _public_subnet(p: str) -> Template:
    """The public subnet, routed to the internet gateway, holding the NAT gateway."""
    return {
        "PublicSubnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": ref("Vpc"),
                "CidrBlock": PUBLIC_CIDR,
                "AvailabilityZone": _az(0),
                "Tags": _tags(p, "public"),
            },
        },
        "PublicRouteTable": {
            "Type": "AWS::EC2::RouteTable",
            "Properties": {"VpcId": ref("Vpc"), "Tags": _tags(p, "public")},
        },
        "PublicDefaultRoute": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {
                "RouteTableId": ref("PublicRouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": ref("InternetGateway"),
            },
        },
        "PublicSubnetRouteTable": {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": ref("PublicSubnet"),
                "RouteTableId": ref("PublicRouteTable"),
            },
        },
        "NatAddress": {
            "Type": "AWS::EC2::EIP",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {"Domain": "vpc", "Tags": _tags(p, "nat")},
        },
        "NatGateway": {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {
                "AllocationId": get_att("NatAddress", "AllocationId"),
                "SubnetId": ref("PublicSubnet"),
                "Tags": _tags(p, "nat"),
            },
        },
    }


def _private_routing(p: str) -> Template:
    """The private subnets' route table: out through the NAT, S3 through an endpoint."""
    return {
        "PrivateRouteTable": {
            "Type": "AWS::EC2::RouteTable",
            "Properties": {"VpcId": ref("Vpc"), "Tags": _tags(p, "private")},
        },
        "PrivateDefaultRoute": {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": ref("PrivateRouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": ref("NatGateway"),
            },
        },
        "S3GatewayEndpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": ref("Vpc"),
                "VpcEndpointType": "Gateway",
                "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"},
                "RouteTableIds": [ref("PrivateRouteTable")],
            },
        },
    }


def _worker_security_group(p: str) -> Template:
    """The workers' security group: no inbound traffic, HTTPS out."""
    return {
        "WorkerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": f"{p} workers: no inbound traffic, HTTPS out",
                "VpcId": ref("Vpc"),
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": "0.0.0.0/0",
                        "Description": "AWS APIs, S3 and ECR over HTTPS",
                    }
                ],
                "Tags": _tags(p, "workers"),
            },
        },
    }


def _private_subnets(p: str) -> Template:
    """The two private subnets the workers run in, one per availability zone."""
    resources: Template = {}
    for index, (name, cidr) in enumerate(zip(PRIVATE_SUBNETS, PRIVATE_CIDRS, strict=True)):
        resources[name] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": ref("Vpc"),
                "CidrBlock": cidr,
                "AvailabilityZone": _az(index),
                "Tags": _tags(p, f"private-{'ab'[index]}"),
            },
        }
        resources[f"{name}RouteTable"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": ref(name), "RouteTableId": ref("PrivateRouteTable")},
        }
    return resources


def awsvpc_configuration(options: TemplateOptions) -> dict[str, Json]:
    """The worker service's ``AwsvpcConfiguration``."""
    if options.creates_network:
        return {
            "AssignPublicIp": "DISABLED",
            "Subnets": [ref(name) for name in PRIVATE_SUBNETS],
            "SecurityGroups": [ref("WorkerSecurityGroup")],
        }
    return {
        "AssignPublicIp": "ENABLED" if options.assign_public_ip else "DISABLED",
        "Subnets": list(options.subnets),
        "SecurityGroups": list(options.security_groups),
    }

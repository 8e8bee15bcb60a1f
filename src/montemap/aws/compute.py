"""The workers on ECS: a Fargate Spot cluster, the two task definitions, the service.

The container runs the image's entry point (:mod:`montemap.aws.container`),
configured only through the environment below. ECS gives a Spot task two
minutes' notice (SIGTERM) before it stops it; ``StopTimeout`` holds the
SIGKILL off for the maximum 120 s and the worker finishes or fails its task
within ``MONTEMAP_SHUTDOWN_GRACE`` of that.
"""

from __future__ import annotations

from typing import Any

from montemap.aws.cfn import Json, Template, get_att, ref
from montemap.aws.network import PRIVATE_SUBNETS, awsvpc_configuration
from montemap.aws.stack import CONTAINER, TASK_DEFINITIONS, Stack

STOP_TIMEOUT_S = 120
SHUTDOWN_GRACE_S = 100


def worker_environment(stack: Stack) -> list[dict[str, Json]]:
    """The worker container's environment: all the configuration it gets."""
    return [
        {"Name": "MONTEMAP_ACTIVITY_ARN", "Value": ref("Activity")},
        {"Name": "MONTEMAP_STORE", "Value": "s3://"},
        {"Name": "AWS_REGION", "Value": ref("AWS::Region")},
        {"Name": "MONTEMAP_SHUTDOWN_GRACE", "Value": str(SHUTDOWN_GRACE_S)},
        {"Name": "MONTEMAP_LOG_FORMAT", "Value": "json"},
    ]


def _task_definition(stack: Stack, family: str, cpu: int, memory: int) -> Template:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": f"{stack.prefix}-{family}",
            "Cpu": str(cpu),
            "Memory": str(memory),
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
            "ExecutionRoleArn": get_att("WorkerExecutionRole", "Arn"),
            "TaskRoleArn": get_att("WorkerTaskRole", "Arn"),
            "ContainerDefinitions": [
                {
                    "Name": CONTAINER,
                    "Image": stack.image_uri,
                    "Essential": True,
                    "StopTimeout": STOP_TIMEOUT_S,
                    "Environment": worker_environment(stack),
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": ref("LogGroup"),
                            "awslogs-region": ref("AWS::Region"),
                            "awslogs-stream-prefix": f"worker-{family}",
                        },
                    },
                }
            ],
        },
    }


def compute_resources(stack: Stack) -> Template:
    """Cluster, task definitions and the worker service (desired count 0)."""
    resources: Template = {
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": stack.cluster_name,
                "CapacityProviders": ["FARGATE_SPOT", "FARGATE"],
                "DefaultCapacityProviderStrategy": [
                    {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
                ],
                "ClusterSettings": [{"Name": "containerInsights", "Value": "disabled"}],
            },
        }
    }
    for logical_id, family, cpu, memory in TASK_DEFINITIONS:
        resources[logical_id] = _task_definition(stack, family, cpu, memory)
    service: dict[str, Any] = {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "ServiceName": stack.service_name,
            "Cluster": ref("Cluster"),
            "TaskDefinition": ref(TASK_DEFINITIONS[0][0]),
            "DesiredCount": 0,
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
            "DeploymentConfiguration": {"MinimumHealthyPercent": 0, "MaximumPercent": 200},
            "NetworkConfiguration": {"AwsvpcConfiguration": awsvpc_configuration(stack.options)},
        },
    }
    if stack.options.creates_network:
        # tasks need the NAT route to pull and report; delete the service before it
        service["DependsOn"] = [
            "PrivateDefaultRoute",
            *(f"{name}RouteTable" for name in PRIVATE_SUBNETS),
        ]
    resources["WorkerService"] = service
    return resources

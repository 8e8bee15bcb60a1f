"""``build_template``: the whole AWS deployment as one CloudFormation template.

Parameters: ``ImageRepository`` and ``ImageTag`` name the worker image in
this account's ECR (the workers and the functions run it). Everything else is
decided when the template is generated (:class:`TemplateOptions`).
"""

from __future__ import annotations

from montemap import __version__
from montemap.aws.cfn import Template, get_att, ref, sub
from montemap.aws.compute import compute_resources
from montemap.aws.iam import roles
from montemap.aws.network import network_resources
from montemap.aws.options import TemplateOptions
from montemap.aws.stack import BUCKETS, STATE_MACHINES, TASK_DEFINITIONS, Stack
from montemap.aws.workflows import function_resources, state_machine_resources

LOG_RETENTION_DAYS = 14


def _bucket(stack: Stack, binding: str) -> Template:
    role = BUCKETS[binding]
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": sub(f"{stack.prefix}-{role}-${{AWS::AccountId}}-${{AWS::Region}}"),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "abort-incomplete-uploads",
                        "Status": "Enabled",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    }
                ]
            },
        },
    }


def _parameters() -> Template:
    return {
        "ImageRepository": {
            "Type": "String",
            "Default": "montemap",
            "AllowedPattern": r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
            "Description": "ECR repository (in this account and region) holding the worker image",
        },
        "ImageTag": {
            "Type": "String",
            "AllowedPattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
            "Description": "tag of the worker image to run; use a new tag for each build",
        },
    }


def _outputs(stack: Stack) -> Template:
    outputs: Template = {}
    for binding in BUCKETS:
        outputs[binding] = {
            "Description": f"{BUCKETS[binding]} bucket",
            "Value": stack.bucket(binding),
        }
    outputs["ActivityArn"] = {"Description": "activity the workers serve", "Value": ref("Activity")}
    for workflow, logical_id in STATE_MACHINES.items():
        outputs[logical_id] = {"Description": f"{workflow} state machine", "Value": ref(logical_id)}
    outputs["Cluster"] = {"Description": "ECS cluster", "Value": ref("Cluster")}
    outputs["WorkerService"] = {
        "Description": "worker service (scaled by the workflow)",
        "Value": get_att("WorkerService", "Name"),
    }
    for logical_id, family, _, _ in TASK_DEFINITIONS:
        outputs[logical_id] = {
            "Description": f"'{family}' task definition",
            "Value": ref(logical_id),
        }
    outputs["LogGroup"] = {
        "Description": "logs of workers, functions, state machines",
        "Value": ref("LogGroup"),
    }
    return outputs


def build_template(options: TemplateOptions) -> Template:
    """The CloudFormation template (as data) for one deployment."""
    stack = Stack(options)
    resources: Template = {}
    for binding in BUCKETS:
        if stack.given_bucket(binding) is None:
            resources[binding] = _bucket(stack, binding)
    resources["Activity"] = {
        "Type": "AWS::StepFunctions::Activity",
        "Properties": {"Name": stack.activity_name},
    }
    resources["LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": stack.log_group_name, "RetentionInDays": LOG_RETENTION_DAYS},
    }
    resources.update(roles(stack))
    resources.update(function_resources(stack))
    resources.update(state_machine_resources(stack))
    resources.update(compute_resources(stack))
    resources.update(network_resources(options))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"montemap {__version__} on AWS ({options.prefix}): the credit-risk Monte Carlo "
            "workflows on Step Functions, workers on ECS Fargate Spot"
        ),
        "Parameters": _parameters(),
        "Resources": resources,
        "Outputs": _outputs(stack),
    }

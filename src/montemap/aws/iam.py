"""Least-privilege roles: each part of the stack may do only what it does.

=========================  ==============================================================
state machine roles        invoke their own functions; start, describe and stop their own
                           Distributed Map child executions; read the buckets the item
                           readers read; write ResultWriter files under ``runs/``;
                           scale the worker service (processing only); deliver logs
function roles             read/write the buckets their functions touch; write their logs
worker task role           poll the activity, report tasks, read loans, write ``runs/``
worker execution role      pull the image from its repository, write the workers' logs
=========================  ==============================================================

``states:SendTask*``, ``ecr:GetAuthorizationToken`` and the CloudWatch Logs
delivery actions accept no resource narrower than ``*`` (the task token is
what authorizes a SendTask call).
"""

from __future__ import annotations

from montemap.aws.cfn import Json, Template, get_att, policy, ref, role, statement
from montemap.aws.stack import Stack

#: Actions a state machine needs to send its logs to CloudWatch Logs (resource ``*`` only).
LOG_DELIVERY = [
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
]
#: What a Distributed Map's ResultWriter does in the results bucket.
RESULT_WRITER = [
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
]


def _write_logs() -> dict[str, Json]:
    return statement(["logs:CreateLogStream", "logs:PutLogEvents"], get_att("LogGroup", "Arn"))


def _child_executions(stack: Stack, workflow: str) -> list[dict[str, Json]]:
    return [
        statement(["states:StartExecution"], stack.state_machine_arn(workflow)),
        statement(
            ["states:DescribeExecution", "states:RedriveExecution", "states:StopExecution"],
            stack.child_executions_arn(workflow),
        ),
    ]


def _invoke(stack: Stack, workflow: str) -> dict[str, Json]:
    arns: list[Json] = []
    for name in stack.workflow_functions(workflow):
        arns.extend(stack.function_arns(name))
    return statement(["lambda:InvokeFunction"], arns)


def processing_role(stack: Stack) -> Template:
    wf = "data-processing"
    return role(
        "states.amazonaws.com",
        f"{stack.prefix} data processing state machine",
        [
            policy(
                "data-processing",
                [
                    _invoke(stack, wf),
                    *_child_executions(stack, wf),
                    statement(["ecs:UpdateService"], ref("WorkerService")),
                    statement(
                        ["s3:GetObject"],
                        [stack.objects_arn("SourceBucket"), stack.objects_arn("ResultsBucket")],
                    ),
                    statement(RESULT_WRITER, stack.objects_arn("ResultsBucket", "runs/*")),
                    statement(LOG_DELIVERY, "*"),
                ],
            )
        ],
    )


def generation_role(stack: Stack) -> Template:
    wf = "data-generation"
    return role(
        "states.amazonaws.com",
        f"{stack.prefix} data generation state machine",
        [
            policy(
                "data-generation",
                [
                    _invoke(stack, wf),
                    *_child_executions(stack, wf),
                    statement(["s3:GetObject"], stack.objects_arn("SourceBucket", "seed/*")),
                    statement(LOG_DELIVERY, "*"),
                ],
            )
        ],
    )


def processing_functions_role(stack: Stack) -> Template:
    """PartitionInventory and ReduceAndReport: read both buckets, write ``runs/``."""
    buckets = [stack.bucket_arn("SourceBucket"), stack.bucket_arn("ResultsBucket")]
    return role(
        "lambda.amazonaws.com",
        f"{stack.prefix} data processing functions",
        [
            policy(
                "processing-functions",
                [
                    _write_logs(),
                    statement(
                        ["s3:GetObject"],
                        [stack.objects_arn("SourceBucket"), stack.objects_arn("ResultsBucket")],
                    ),
                    statement(["s3:PutObject"], stack.objects_arn("ResultsBucket", "runs/*")),
                    statement(["s3:ListBucket"], buckets),
                    # the functions make sure their output bucket exists (a no-op here)
                    statement(["s3:CreateBucket"], stack.bucket_arn("ResultsBucket")),
                ],
            )
        ],
    )


def generation_functions_role(stack: Stack) -> Template:
    """SeedPortfolio, GenerateLoans, BuildInventory, WriteManifest: the source bucket only."""
    source = stack.bucket_arn("SourceBucket")
    return role(
        "lambda.amazonaws.com",
        f"{stack.prefix} data generation functions",
        [
            policy(
                "generation-functions",
                [
                    _write_logs(),
                    statement(["s3:GetObject", "s3:PutObject"], stack.objects_arn("SourceBucket")),
                    statement(["s3:CreateBucket", "s3:ListBucket"], source),
                ],
            )
        ],
    )


def worker_task_role(stack: Stack) -> Template:
    """What the worker process itself calls."""
    return role(
        "ecs-tasks.amazonaws.com",
        f"{stack.prefix} credit workers",
        [
            policy(
                "worker",
                [
                    statement(["states:GetActivityTask"], ref("Activity")),
                    statement(
                        [
                            "states:SendTaskFailure",
                            "states:SendTaskHeartbeat",
                            "states:SendTaskSuccess",
                        ],
                        "*",
                    ),
                    statement(["s3:GetObject"], stack.objects_arn("SourceBucket")),
                    statement(["s3:PutObject"], stack.objects_arn("ResultsBucket", "runs/*")),
                    statement(["s3:CreateBucket"], stack.bucket_arn("ResultsBucket")),
                ],
            )
        ],
    )


def worker_execution_role(stack: Stack) -> Template:
    """What ECS does for the workers: pull the image, create their log streams."""
    return role(
        "ecs-tasks.amazonaws.com",
        f"{stack.prefix} worker tasks: image pull and logs",
        [
            policy(
                "pull-and-log",
                [
                    statement(["ecr:GetAuthorizationToken"], "*"),
                    statement(
                        [
                            "ecr:BatchCheckLayerAvailability",
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer",
                        ],
                        stack.repository_arn,
                    ),
                    _write_logs(),
                ],
            )
        ],
    )


def roles(stack: Stack) -> Template:
    """Every role of the stack, by logical id."""
    return {
        "DataProcessingRole": processing_role(stack),
        "DataGenerationRole": generation_role(stack),
        "ProcessingFunctionsRole": processing_functions_role(stack),
        "GenerationFunctionsRole": generation_functions_role(stack),
        "WorkerTaskRole": worker_task_role(stack),
        "WorkerExecutionRole": worker_execution_role(stack),
    }

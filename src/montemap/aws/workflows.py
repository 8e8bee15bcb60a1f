"""The "Lambda" functions and the two state machines, bound to the stack's resources.

Each function is the same Python function ``montemap server`` runs locally,
in the worker image (the dependencies - numpy, scipy, pyarrow - are larger
than a zip package may be, 250 MB unzipped): the image's entry point is
replaced by the Lambda runtime interface client, and the command names the
handler. The state machines are the shipped definitions, unchanged, their
``${Name}`` placeholders filled by ``DefinitionSubstitutions``.
"""

from __future__ import annotations

import json

from montemap.aws.cfn import Template, get_att, ref
from montemap.aws.stack import STATE_MACHINES, Stack
from montemap.workflows import bindings

#: The Lambda runtime interface client, installed in the image.
LAMBDA_ENTRY_POINT = ["python", "-m", "awslambdaric"]
#: Binding name -> (memory MiB, timeout s). Memory also buys CPU (1 vCPU at 1769 MiB).
FUNCTION_SIZES = {
    "PartitionFunction": (1024, 300),
    "ReduceFunction": (4096, 900),
    "SeedFunction": (512, 60),
    "GenerateFunction": (1769, 900),
    "InventoryFunction": (1769, 300),
    "ManifestFunction": (1024, 300),
}
_ROLES = {
    "data-processing": "ProcessingFunctionsRole",
    "data-generation": "GenerationFunctionsRole",
}


def lambda_handler(binding: str) -> str:
    """The handler as the runtime interface client names it (``module.function``)."""
    from montemap.assembly import BUILTIN_FUNCTIONS

    module, _, function = BUILTIN_FUNCTIONS[bindings.FUNCTIONS[binding]].partition(":")
    return f"{module}.{function}"


def function_resources(stack: Stack) -> Template:
    resources: Template = {}
    for workflow, role in _ROLES.items():
        for name in stack.workflow_functions(workflow):
            memory, timeout = FUNCTION_SIZES[name]
            resources[name] = {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": stack.function_name(name),
                    "Description": f"montemap {workflow}: {bindings.FUNCTIONS[name]}",
                    "PackageType": "Image",
                    "Code": {"ImageUri": stack.image_uri},
                    "ImageConfig": {
                        "EntryPoint": LAMBDA_ENTRY_POINT,
                        "Command": [lambda_handler(name)],
                    },
                    "Architectures": ["x86_64"],
                    "MemorySize": memory,
                    "Timeout": timeout,
                    "Role": get_att(role, "Arn"),
                    "Environment": {"Variables": {"MONTEMAP_STORE": "s3://"}},
                    "LoggingConfig": {"LogGroup": ref("LogGroup"), "LogFormat": "Text"},
                },
            }
    return resources


def state_machine_resources(stack: Stack) -> Template:
    roles = {"data-processing": "DataProcessingRole", "data-generation": "DataGenerationRole"}
    resources: Template = {}
    for workflow, logical_id in STATE_MACHINES.items():
        resources[logical_id] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": stack.state_machine_name(workflow),
                "StateMachineType": "STANDARD",
                "RoleArn": get_att(roles[workflow], "Arn"),
                "Definition": json.loads(bindings.template(workflow)),
                "DefinitionSubstitutions": stack.substitutions(workflow),
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": get_att("LogGroup", "Arn")}}
                    ],
                },
            },
        }
    return resources

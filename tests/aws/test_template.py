"""The CloudFormation template: cfn-lint clean, least privilege, the right pieces."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from montemap.asl.definition import validate_definition
from montemap.assembly import BUILTIN_FUNCTIONS
from montemap.aws import AwsError, TemplateOptions, aws_definitions, dump_yaml, load_yaml
from montemap.aws.iam import LOG_DELIVERY
from montemap.workflows import bindings
from tests.aws.helpers import resolver, stack_template

GIVEN = {
    "source_bucket": "acme-loans",
    "results_bucket": "acme-results",
    "subnets": ("subnet-0123abcd", "subnet-4567ef01"),
    "security_groups": ("sg-0123abcd",),
    "assign_public_ip": True,
}
#: Actions that accept no resource narrower than "*".
STAR_ONLY = {
    *LOG_DELIVERY,
    "ecr:GetAuthorizationToken",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    "states:SendTaskSuccess",
}


def _cfn_lint() -> list[str]:
    beside = Path(sys.executable).with_name("cfn-lint")
    found = str(beside) if beside.exists() else shutil.which("cfn-lint")
    if found is None:
        pytest.skip("cfn-lint is not installed")
    return [found]


def test_cfn_lint_passes(tmp_path: Path) -> None:
    files = []
    for name, options in (("created", {}), ("given", GIVEN)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(dump_yaml(stack_template(**options)))
        files.append(str(path))
    done = subprocess.run(
        [
            *_cfn_lint(),
            "--regions",
            "us-east-1",
            "eu-west-1",
            "--include-checks",
            "I",
            "--",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("options", [{}, GIVEN], ids=["created", "given"])
def test_definitions_validate_and_name_the_stack(options: dict[str, Any]) -> None:
    definitions = aws_definitions(resolver(stack_template(**options)))
    assert set(definitions) == set(bindings.WORKFLOWS)
    for text in definitions.values():
        assert validate_definition(json.loads(text)) == []
        assert "${" not in text
    processing = definitions["data-processing"]
    assert "arn:aws:states:eu-west-1:111122223333:activity:mm-credit" in processing
    assert "arn:aws:lambda:eu-west-1:111122223333:function:mm-PartitionInventory" in processing
    source = options.get("source_bucket", "mm-source-111122223333-eu-west-1")
    assert f'\\"source_bucket\\": \\"{source}\\"' in processing  # inside the JSONata


def test_yaml_reads_back_as_the_same_data() -> None:
    template = stack_template()
    assert load_yaml(dump_yaml(template)) == template
    assert "!" not in dump_yaml(template).replace("!=", "")  # no tags: plain YAML


def test_load_yaml_refuses_what_is_not_a_template() -> None:
    with pytest.raises(ValueError, match="no Resources mapping"):
        load_yaml("a: 1\n")


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"]["Policies"]:
                out.extend((name, s) for s in policy["PolicyDocument"]["Statement"])
    return out


@pytest.mark.parametrize("options", [{}, GIVEN], ids=["created", "given"])
def test_roles_are_least_privilege(options: dict[str, Any]) -> None:
    template = stack_template(**options)
    statements = _statements(template)
    assert statements
    for role, statement in statements:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, (role, action)
        if "*" in statement["Resource"]:
            assert set(statement["Action"]) <= STAR_ONLY, (role, statement)
        assert not any(a.startswith("s3:Delete") for a in statement["Action"])
    text = json.dumps(template)
    assert "arn:aws:iam::aws:policy" not in text  # no broad managed policies


def test_roles_are_scoped_to_their_part() -> None:
    template = stack_template()
    by_role: dict[str, set[str]] = {}
    for role, statement in _statements(template):
        by_role.setdefault(role, set()).update(statement["Action"])
    assert "ecs:UpdateService" in by_role["DataProcessingRole"]
    assert "ecs:UpdateService" not in by_role["DataGenerationRole"]
    assert "states:GetActivityTask" in by_role["WorkerTaskRole"]
    assert not any(a.startswith("lambda:") for a in by_role["WorkerTaskRole"])
    assert "s3:PutObject" not in by_role["DataGenerationRole"]
    assert by_role["WorkerExecutionRole"] >= {"ecr:BatchGetImage", "logs:PutLogEvents"}
    invoke = [
        s
        for role, s in _statements(template)
        if role == "DataProcessingRole" and s["Action"] == ["lambda:InvokeFunction"]
    ]
    functions = json.dumps(invoke)
    assert "PartitionFunction" in functions and "ReduceFunction" in functions
    assert "SeedFunction" not in functions


def test_workers_run_on_fargate_spot_at_zero() -> None:
    resources = stack_template()["Resources"]
    cluster = resources["Cluster"]["Properties"]
    assert cluster["DefaultCapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    service = resources["WorkerService"]["Properties"]
    assert service["DesiredCount"] == 0
    assert service["CapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE_SPOT"
    sizes = {
        r["Properties"]["Family"]: (r["Properties"]["Cpu"], r["Properties"]["Memory"])
        for r in resources.values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
    }
    assert sizes == {"mm-small": ("256", "512"), "mm-large": ("512", "1024")}
    assert resources["LogGroup"]["Properties"]["LogGroupName"] == "/montemap/mm"


def test_created_network_is_private_with_a_nat() -> None:
    resources = stack_template()["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    assert kinds.count("AWS::EC2::Subnet") == 3 and "AWS::EC2::NatGateway" in kinds
    vpc = resources["WorkerService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["AssignPublicIp"] == "DISABLED"
    assert vpc["Subnets"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    egress = resources["WorkerSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [(e["FromPort"], e["ToPort"]) for e in egress] == [(443, 443)]
    assert "SecurityGroupIngress" not in resources["WorkerSecurityGroup"]["Properties"]


def test_given_buckets_and_network_are_used_not_created() -> None:
    resources = stack_template(**GIVEN)["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert "AWS::S3::Bucket" not in kinds and "AWS::EC2::VPC" not in kinds
    vpc = resources["WorkerService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc == {
        "AssignPublicIp": "ENABLED",
        "Subnets": ["subnet-0123abcd", "subnet-4567ef01"],
        "SecurityGroups": ["sg-0123abcd"],
    }
    policies = json.dumps([r for r in resources.values() if r["Type"] == "AWS::IAM::Role"])
    assert "arn:${AWS::Partition}:s3:::acme-results/runs/*" in policies


def test_functions_are_the_local_functions() -> None:
    resources = stack_template()["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == set(bindings.FUNCTIONS)
    for binding, resource in functions.items():
        props = resource["Properties"]
        assert props["PackageType"] == "Image"
        assert props["ImageConfig"]["EntryPoint"] == ["python", "-m", "awslambdaric"]
        # the runtime interface client splits module and function at the last dot
        module, _, name = props["ImageConfig"]["Command"][0].rpartition(".")
        handler = getattr(importlib.import_module(module), name)
        local_module, _, local_name = BUILTIN_FUNCTIONS[bindings.FUNCTIONS[binding]].partition(":")
        assert handler is getattr(importlib.import_module(local_module), local_name)
        assert props["FunctionName"] == f"mm-{bindings.FUNCTIONS[binding]}"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefix": "Bad_Prefix"}, "--prefix 'Bad_Prefix' must be 1-20 characters"),
        ({"prefix": "a" * 21}, "must be 1-20 characters"),
        ({"source_bucket": "UPPER"}, "--bucket-source: invalid bucket name 'UPPER'"),
        ({"source_bucket": "same-one", "results_bucket": "same-one"}, "must be different"),
        ({"subnets": ("subnet-1",), "security_groups": ("sg-0123abcd",)}, "not a subnet id"),
        ({"subnets": ("subnet-0123abcd",)}, "go together"),
        ({"subnets": ("subnet-0123abcd",), "security_groups": ("sg-x",)}, "not a security group"),
        ({"assign_public_ip": True}, "--assign-public-ip only applies"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(AwsError, match=message):
        TemplateOptions(**options)


def test_dockerfile_builds_no_packages_at_start() -> None:
    root = Path(__file__).resolve().parents[2]
    lines = (root / "Dockerfile").read_text().splitlines()
    entry = [line for line in lines if line.startswith("ENTRYPOINT ")]
    assert entry == ['ENTRYPOINT ["python", "-m", "montemap.aws.container"]']
    assert not any(line.startswith("CMD") for line in lines)
    ignore = (root / ".dockerignore").read_text()
    assert "!src/" in ignore and "!pyproject.toml" in ignore

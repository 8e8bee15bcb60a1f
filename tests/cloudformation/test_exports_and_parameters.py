"""Exports and parameters across stacks: ListImports, an export name another stack
exports, UsePreviousValue's rules, SSM parameter types."""

from __future__ import annotations

import re

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import activity_names, client, events, finished

SSM = """
Parameters:
  Ami:
    Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    Default: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
  JobName: {Type: "AWS::SSM::Parameter::Value<String>", Default: /app/job-name}
Resources:
  Instance:
    Type: AWS::EC2::Instance
    Properties: {ImageId: !Ref Ami}
"""
SSM_ACTING = (
    SSM
    + """  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: !Ref JobName}
"""
)


def test_an_ssm_parameter_type_never_gives_the_parameter_name(cfn_server: MontemapServer) -> None:
    """AWS gives Ref the value in Parameter Store; montemap has none, so an acting resource
    fails saying so (an accepted-without-effect one keeps the reference as written)."""
    cfn = client(cfn_server)
    cfn.create_stack(StackName="t-ssm-ec2", TemplateBody=SSM)
    stack = finished(cfn, "t-ssm-ec2")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-ssm-ec2")
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert shown["JobName"] == "/app/job-name"
    cfn.create_stack(StackName="t-ssm-acting", TemplateBody=SSM_ACTING)
    assert finished(cfn, "t-ssm-acting")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for n, s, r in events(cfn, "t-ssm-acting") if s == "CREATE_FAILED"]
    assert len(failed) == 1 and "{{resolve:ssm:/app/job-name}}" in failed[0]
    assert "SSM Parameter Store" in failed[0]
    assert "/app/job-name" not in activity_names(cfn_server)


EXPORTER = """
Resources:
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  Shared: {Value: shared-value, Export: {Name: t-shared}}
"""
IMPORTER = """
Resources:
  Topic: {Type: AWS::SNS::Topic, Properties: {TopicName: !ImportValue t-shared}}
"""


def test_list_imports_names_the_importing_stacks(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="t-exporter", TemplateBody=EXPORTER)
    assert finished(cfn, "t-exporter")["StackStatus"] == "CREATE_COMPLETE"
    with pytest.raises(cfn.exceptions.ClientError, match="is not imported by any stack"):
        cfn.list_imports(ExportName="t-shared")
    for name in ("t-importer-a", "t-importer-b"):
        cfn.create_stack(StackName=name, TemplateBody=IMPORTER)
        assert finished(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.list_imports(ExportName="t-shared")["Imports"] == [
        "t-importer-a",
        "t-importer-b",
    ]
    in_use = "Export t-shared cannot be deleted as it is in use by t-importer-a and t-importer-b"
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(in_use)):
        cfn.delete_stack(StackName="t-exporter")
    cfn.delete_stack(StackName="t-importer-a")
    finished(cfn, cfn.describe_stacks(StackName="t-importer-b")["Stacks"][0]["StackId"])
    assert cfn.list_imports(ExportName="t-shared")["Imports"] == ["t-importer-b"]


PREVIOUS = """
Parameters:
  Kept: {Type: String}
Resources:
  Topic: {Type: AWS::SNS::Topic, Properties: {TopicName: !Ref Kept}}
"""


def test_use_previous_value_is_refused_where_aws_refuses_it(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    previous = [{"ParameterKey": "Kept", "UsePreviousValue": True}]
    with pytest.raises(cfn.exceptions.ClientError, match="when ChangeSetType is CREATE"):
        cfn.create_change_set(
            StackName="t-previous",
            ChangeSetName="c",
            TemplateBody=PREVIOUS,
            ChangeSetType="CREATE",
            Parameters=previous,
        )
    with pytest.raises(cfn.exceptions.ClientError, match="not in the previous template"):
        cfn.create_stack(StackName="t-previous", TemplateBody=PREVIOUS, Parameters=previous)
    given = [{"ParameterKey": "Kept", "ParameterValue": "t-one"}]
    cfn.create_stack(StackName="t-previous", TemplateBody=PREVIOUS, Parameters=given)
    assert finished(cfn, "t-previous")["StackStatus"] == "CREATE_COMPLETE"
    both = [{"ParameterKey": "Kept", "ParameterValue": "t-two", "UsePreviousValue": True}]
    with pytest.raises(
        cfn.exceptions.ClientError,
        match=re.escape(
            "Invalid input for parameter key Kept. Cannot specify usePreviousValue as true "
            "and non empty value for a parameter"
        ),
    ):
        cfn.update_stack(StackName="t-previous", TemplateBody=PREVIOUS, Parameters=both)
    added = PREVIOUS.replace("Resources:", "  Added: {Type: String, Default: x}\nResources:")
    new = [*previous, {"ParameterKey": "Added", "UsePreviousValue": True}]
    with pytest.raises(cfn.exceptions.ClientError, match="not in the previous template"):
        cfn.update_stack(StackName="t-previous", TemplateBody=added, Parameters=new)
    cfn.update_stack(
        StackName="t-previous",
        TemplateBody=added,
        Parameters=[*previous, {"ParameterKey": "Added", "ParameterValue": "y"}],
    )
    stack = finished(cfn, "t-previous")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert shown == {"Kept": "t-one", "Added": "y"}


def test_an_export_name_another_stack_exports_fails_the_stack_naming_that_stack(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    body = (
        "Resources:\n  A: {Type: AWS::SNS::Topic}\n"
        + "Outputs:\n  Shared: {Value: x, Export: {Name: t-taken}}\n"
    )
    cfn.create_stack(StackName="t-taken-first", TemplateBody=body)
    assert finished(cfn, "t-taken-first")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(StackName="t-taken-second", TemplateBody=body)
    assert finished(cfn, "t-taken-second")["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [r for _, s, r in events(cfn, "t-taken-second") if s == "ROLLBACK_IN_PROGRESS"]
    assert reasons == [
        "Export with name t-taken is already exported by stack t-taken-first. "
        "Rollback requested by user."
    ]

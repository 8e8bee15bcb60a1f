"""Templates AWS refuses, refused here before any stack (or failing the stack with a
reason, never a 500 or a stack left in progress): shapes and limits, malformed sections,
references to resources whose Condition is false, unquoted YAML dates, the SAM
transform's refusals, the inline size limit; ValidateTemplate and GetTemplateSummary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import client, events, finished, outputs

TOPIC = "Resources:\n  A: {Type: AWS::SNS::Topic}\n"
#: Templates of a shape CloudFormation refuses, and its reason.
SHAPES = [
    (
        "Resources:\n" + "".join(f"  R{i}: {{Type: AWS::SNS::Topic}}\n" for i in range(501)),
        "Template format error: Number of resources, 501, is greater than maximum allowed, 500",
    ),
    (
        "Resources:\n  my-topic: {Type: AWS::SNS::Topic}\n",
        "Template format error: Resource name my-topic is non alphanumeric.",
    ),
    (
        "Resources:\n  A: {Type: AWS::SNS::Topic, Propertes: {TopicName: x}}\n",
        "Invalid template resource property 'Propertes'",
    ),
    (
        TOPIC + "Outputs:\n  O: {Description: no value}\n",
        "Template format error: Every Outputs member must contain a Value object",
    ),
    (
        "Parameters:\n  P: {Default: x}\n" + TOPIC,
        "Template format error: Every Parameters object must contain a Type member.",
    ),
    (
        "Conditions:\n  C: !Equals [!Ref A, x]\nResources:\n"
        "  A: {Type: AWS::SNS::Topic, Condition: C}\n",
        "Template format error: Unresolved dependencies [A]. Cannot reference resources in the "
        "Conditions block of the template",
    ),
    (
        "Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: A}\n",
        "Circular dependency between resources: [A]",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "Resources:\n  A: {Type: AWS::SNS::Topic, Properties: {TopicName: !Ref Nope}}\n",
            "Unresolved resource dependencies [Nope] in the Resources block of the template",
        ),
        (
            "Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: B}\n",
            "Unresolved resource dependencies [B] in the Resources block of the template",
        ),
        (
            "Parameters:\n  P: {Type: Strin}\nResources:\n  A: {Type: AWS::SNS::Topic}\n",
            "Template format error: Unrecognized parameter type: Strin",
        ),
        (
            "Resources:\n  A: {Type: AWS::Made::Up}\n",
            "Unrecognized resource types: [AWS::Made::Up]",
        ),
        *SHAPES,
    ],
)
def test_validate_template_refuses_what_create_stack_refuses(
    cfn_server: MontemapServer, body: str, message: str
) -> None:
    cfn = client(cfn_server)
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.validate_template(TemplateBody=body)


@pytest.mark.parametrize(("body", "message"), SHAPES)
def test_a_template_of_the_wrong_shape_is_refused_before_any_stack(
    cfn_server: MontemapServer, body: str, message: str
) -> None:
    """CreateStack and CreateChangeSet answer ValidationError; no stack is left behind."""
    cfn = client(cfn_server)
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.create_stack(StackName="t-shape", TemplateBody=body)
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.create_change_set(
            StackName="t-shape", ChangeSetName="c", TemplateBody=body, ChangeSetType="CREATE"
        )
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="t-shape")


def test_an_unknown_parameter_type_with_a_default_is_refused_as_aws_words_it(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    body = "Parameters:\n  P: {Type: Strin, Default: x}\nResources:\n  A: {Type: AWS::SNS::Topic}\n"
    with pytest.raises(cfn.exceptions.ClientError, match="Unrecognized parameter type: Strin"):
        cfn.create_stack(StackName="t-bad-type", TemplateBody=body)


SUMMARY = """
AWSTemplateFormatVersion: "2010-09-09"
Description: a summary
Metadata:
  AWS::CloudFormation::Interface: {ParameterGroups: [{Parameters: [Names]}]}
Parameters:
  Names: {Type: CommaDelimitedList, Default: [a, b], Description: the names}
  Size: {Type: String, AllowedValues: [small, large], Default: small}
Resources:
  Topic: {Type: AWS::SNS::Topic}
"""


def test_template_summary_and_validation_show_parameters_as_aws_does(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    summary = cfn.get_template_summary(TemplateBody=SUMMARY)
    by_key = {p["ParameterKey"]: p for p in summary["Parameters"]}
    assert by_key["Names"]["DefaultValue"] == "a,b"
    assert by_key["Names"]["Description"] == "the names"
    assert by_key["Size"]["ParameterConstraints"] == {"AllowedValues": ["small", "large"]}
    assert json.loads(summary["Metadata"]) == {
        "AWS::CloudFormation::Interface": {"ParameterGroups": [{"Parameters": ["Names"]}]}
    }
    validated = cfn.validate_template(TemplateBody=SUMMARY)
    defaults = {p["ParameterKey"]: p.get("DefaultValue") for p in validated["Parameters"]}
    assert defaults == {"Names": "a,b", "Size": "small"}
    assert "DeclaredTransforms" not in validated
    transformed = "Transform: AWS::Serverless-2016-10-31\n" + SUMMARY
    declared = cfn.validate_template(TemplateBody=transformed)["DeclaredTransforms"]
    assert declared == ["AWS::Serverless-2016-10-31"]


def _large(name: str) -> str:
    """A template over 51,200 bytes (most of it a long Description)."""
    return (
        f"Description: {'x' * 52_000}\n"
        f"Resources:\n  Jobs:\n    Type: AWS::StepFunctions::Activity\n"
        f"    Properties: {{Name: {name}}}\nOutputs:\n  Jobs: {{Value: !GetAtt Jobs.Name}}\n"
    )


def test_an_inline_template_over_51200_bytes_is_refused_one_in_s3_is_not(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    body = _large("t-large")
    calls: list[tuple[str, dict[str, str]]] = [
        ("create_stack", {"StackName": "t-large"}),
        ("validate_template", {}),
        ("get_template_summary", {}),
        (
            "create_change_set",
            {"StackName": "t-large", "ChangeSetName": "c", "ChangeSetType": "CREATE"},
        ),
    ]
    for operation, arguments in calls:
        with pytest.raises(cfn.exceptions.ClientError, match="less than or equal to 51200"):
            getattr(cfn, operation)(TemplateBody=body, **arguments)
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="t-large")
    s3 = cfn_server.client("s3")
    s3.create_bucket(Bucket="t-templates")
    s3.put_object(Bucket="t-templates", Key="large.yaml", Body=body.encode())
    url = f"{cfn_server.url}/t-templates/large.yaml"
    cfn.create_stack(StackName="t-large", TemplateURL=url)
    assert outputs(finished(cfn, "t-large")) == {"Jobs": "t-large"}


def test_montemap_deploy_sends_a_large_template_through_s3(
    cfn_server: MontemapServer, tmp_path: Path
) -> None:
    path = tmp_path / "large.yaml"
    path.write_text(_large("t-deployed-large"))
    command = [sys.executable, "-m", "montemap.cli", "deploy", str(path)]
    command += ["--stack-name", "t-deploy-large", "--endpoint-url", cfn_server.url]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert refused.returncode == 1 and "--s3-bucket" in refused.stderr
    cfn_server.client("s3").create_bucket(Bucket="t-deploy-templates")
    done = subprocess.run(
        [*command, "--s3-bucket", "t-deploy-templates"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    assert "Jobs\tt-deployed-large" in done.stdout


BAD_SAM = """
Transform: AWS::Serverless-2016-10-31
Globals:
  StateMachine:
    Tracing: {Enabled: true}
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
"""


def test_a_sam_template_the_transform_refuses_says_why_as_aws_does(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(
        StackName="t-bad-sam",
        TemplateBody=BAD_SAM,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    assert finished(cfn, "t-bad-sam")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "t-bad-sam") if s == "CREATE_FAILED"]
    assert failed == [
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
        "Specification document. Number of errors found: 1. 'Globals' section is invalid. "
        "'Tracing' is not a supported property of 'StateMachine'. Must be one of the following "
        "values - ['PropagateTags']"
    ]


REPOSITORY_APP = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::Application
    Properties:
      Location:
        ApplicationId: arn:aws:serverlessrepo:us-east-1:123456789012:applications/shared
        SemanticVersion: 1.2.3
"""


def test_an_application_from_the_repository_is_refused_with_the_reason(
    cfn_server: MontemapServer,
) -> None:
    """The translator would ask AWS's Serverless Application Repository (it was a 500)."""
    cfn = client(cfn_server)
    made = cfn.create_change_set(
        StackName="t-repository-app",
        ChangeSetName="c",
        ChangeSetType="CREATE",
        TemplateBody=REPOSITORY_APP,
        Capabilities=["CAPABILITY_AUTO_EXPAND"],
    )
    described = eventually(
        lambda: (
            (d := cfn.describe_change_set(ChangeSetName=made["Id"]))["Status"]
            not in ("CREATE_PENDING", "CREATE_IN_PROGRESS")
            and d
        ),
        timeout=30,
    )
    assert described["Status"] == "FAILED"
    reason = described["StatusReason"]
    assert reason.startswith(
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
        "Specification document. Number of errors found: 1. Resource with id [Shared] is invalid."
    )
    assert "Serverless Application Repository is not available on montemap" in reason


INCLUDED = """
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      Definition:
        Fn::Transform:
          Name: AWS::Include
          Parameters: {Location: s3://t-snippets/definition.yaml}
"""


def test_a_macro_in_the_template_is_refused_by_name(cfn_server: MontemapServer) -> None:
    """``Fn::Transform`` (AWS::Include...) is named, where the state machine's definition
    check complained of a field 'Fn::Transform'."""
    cfn = client(cfn_server)
    cfn.create_stack(StackName="t-included", TemplateBody=INCLUDED)
    assert finished(cfn, "t-included")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "t-included") if s == "CREATE_FAILED"]
    assert len(failed) == 1
    assert failed[0].startswith(
        "Transform AWS::Include is not supported here "
        "(Fn::Transform at Resources/Machine/Properties/Definition)"
    )


DATED = """
AWSTemplateFormatVersion: 2010-09-09
Description: unquoted dates, as many templates have them
Resources:
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties:
      Name: t-dated
      Tags: [{Key: since, Value: 2024-01-02}]
"""


def test_unquoted_yaml_dates_are_the_text_written(cfn_server: MontemapServer) -> None:
    """``AWSTemplateFormatVersion: 2010-09-09`` unquoted is a YAML date: read as its text
    (it was a 500 InternalFailure)."""
    cfn = client(cfn_server)
    assert cfn.validate_template(TemplateBody=DATED)["Parameters"] == []
    cfn.create_stack(StackName="t-dated", TemplateBody=DATED)
    assert finished(cfn, "t-dated")["StackStatus"] == "CREATE_COMPLETE"
    arn = cfn.describe_stack_resource(StackName="t-dated", LogicalResourceId="Jobs")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    tags = cfn_server.client().list_tags_for_resource(resourceArn=arn)["tags"]
    assert {"key": "since", "value": "2024-01-02"} in tags


CONDITIONAL = """
Parameters:
  Env: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  ProdOnly: {Type: AWS::SNS::Topic, Condition: IsProd}
  Always:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !If [IsProd, !GetAtt ProdOnly.TopicName, t-always]
"""


@pytest.mark.parametrize(
    ("extra", "block"),
    [
        ("Outputs:\n  Prod: {Value: !Ref ProdOnly}\n", "Outputs"),
        (
            "  Reader: {Type: AWS::SNS::Topic, Properties: {DisplayName: !Ref ProdOnly}}\n",
            "Resources",
        ),
    ],
)
def test_a_reference_to_a_resource_whose_condition_is_false_is_refused(
    cfn_server: MontemapServer, extra: str, block: str
) -> None:
    """As AWS answers once the parameters are known; the Fn::If branch not taken is fine."""
    cfn = client(cfn_server)
    name = f"t-conditional-{block.lower()}"
    message = f"Unresolved resource dependencies [ProdOnly] in the {block} block of the template"
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.create_stack(StackName=name, TemplateBody=CONDITIONAL + extra)
    prod = [{"ParameterKey": "Env", "ParameterValue": "prod"}]
    cfn.create_stack(StackName=name, TemplateBody=CONDITIONAL + extra, Parameters=prod)
    assert finished(cfn, name)["StackStatus"] == "CREATE_COMPLETE", events(cfn, name)
    dev = [{"ParameterKey": "Env", "ParameterValue": "dev"}]
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.update_stack(StackName=name, TemplateBody=CONDITIONAL + extra, Parameters=dev)


def test_the_branch_not_taken_may_name_an_absent_resource(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    described = CONDITIONAL.replace(
        "    Type: AWS::SNS::Topic\n", "    Type: AWS::SNS::Topic\n    Description: accepted\n"
    )
    assert described != CONDITIONAL  # a resource's Description is accepted, as on AWS
    cfn.create_stack(StackName="t-branch", TemplateBody=described)
    assert finished(cfn, "t-branch")["StackStatus"] == "CREATE_COMPLETE"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Parameters: [a]\n" + TOPIC, "the Parameters section must be a mapping"),
        ("Conditions: [a]\n" + TOPIC, "the Conditions section must be a mapping"),
        ("Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: 5}\n", "DependsOn must be"),
        ("Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: [5]}\n", "DependsOn must be"),
        ("Resources:\n  A: {Type: AWS::SNS::Topic, Condition: [x]}\n", "Condition must be"),
        (TOPIC + "Outputs:\n  O: {Value: x, Export: x}\n", "the Export member must contain a Name"),
    ],
)
def test_malformed_sections_are_refused_never_a_500(
    cfn_server: MontemapServer, body: str, message: str
) -> None:
    """Each was an InternalFailure, or (the Export) a stack left CREATE_IN_PROGRESS for good."""
    cfn = client(cfn_server)
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)) as refused:
        cfn.create_stack(StackName="t-malformed", TemplateBody=body)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.validate_template(TemplateBody=body)


def test_a_malformed_export_behind_a_transform_fails_the_stack_with_a_reason(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    body = "Transform: AWS::LanguageExtensions\n" + TOPIC + "Outputs:\n  O: {Value: x, Export: x}\n"
    cfn.create_stack(
        StackName="t-bad-export", TemplateBody=body, Capabilities=["CAPABILITY_AUTO_EXPAND"]
    )
    stack = finished(cfn, "t-bad-export", timeout=30)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [r for _, s, r in events(cfn, "t-bad-export") if s == "ROLLBACK_IN_PROGRESS"]
    assert len(reasons) == 1 and "Output O is malformed" in reasons[0]


ODD_PROPERTIES = """
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      DefinitionString: '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
      DefinitionSubstitutions: [not, a, mapping]
"""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ODD_PROPERTIES, "DefinitionSubstitutions must map names to values"),
        (
            ODD_PROPERTIES.replace(
                "DefinitionSubstitutions: [not, a, mapping]", "StateMachineType: FAST"
            ),
            "StateMachineType must be STANDARD or EXPRESS, not FAST",
        ),
        (  # it was written into the definition as Python's text of the list
            ODD_PROPERTIES.replace("[not, a, mapping]", "{Names: [a, b]}"),
            'DefinitionSubstitutions Names must be a string, a number or a boolean, not ["a", "b"]',
        ),
        (
            "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
            "      AssumeRolePolicyDocument: {}\n      Policies: not-a-list\n",
            "Policies must be a list of {PolicyName, PolicyDocument}",
        ),
        (  # no check for this one: the provider's ValueError is the resource's failure
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n"
            "      Runtime: python3.12\n      Handler: index.handler\n"
            "      Role: arn:aws:iam::123456789012:role/fn\n"
            "      Code: {ZipFile: 'def handler(e, c): return e'}\n      Timeout: soon\n",
            "montemap could not carry this out (ValueError",
        ),
    ],
)
def test_a_property_of_the_wrong_shape_fails_the_resource_and_rolls_back(
    cfn_server: MontemapServer, body: str, reason: str
) -> None:
    """Never a stack left CREATE_IN_PROGRESS or ROLLBACK_FAILED by a provider's crash."""
    cfn = client(cfn_server)
    name = f"t-odd-{zlib.crc32(reason.encode())}"
    cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert finished(cfn, name, timeout=30)["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, name) if s == "CREATE_FAILED"]
    assert len(failed) == 1 and reason in failed[0]

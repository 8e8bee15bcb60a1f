"""Each bad input gives a stack event with its reason, and the stack rolls back."""

from __future__ import annotations

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.conftest import CUSTOM_TIMEOUT
from tests.cloudformation.helpers import client, events, finished

BUCKET_FIRST = """
Resources:
  First:
    Type: AWS::S3::Bucket
    Properties: {BucketName: %s}
"""
RAISES = """
  Fails:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: |
          def handler(event, context):
              raise RuntimeError("the handler broke on purpose")
  Thing:
    Type: Custom::Broken
    DependsOn: First
    Properties: {ServiceToken: !GetAtt Fails.Arn}
"""
SILENT = """
  Silent:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: |
          def handler(event, context):
              return "I never call cfnresponse"
  Thing:
    Type: Custom::Silent
    DependsOn: First
    Properties: {ServiceToken: !GetAtt Silent.Arn}
"""
CASES = {
    "unsupported-type": (
        "  Table:\n    Type: AWS::DynamoDB::Table\n    DependsOn: First\n",
        "Unrecognized resource type: [AWS::DynamoDB::Table] is not supported by montemap",
    ),
    "no-export": (
        "  Other:\n    Type: AWS::S3::Bucket\n    DependsOn: First\n"
        "    Properties: {BucketName: !ImportValue nobody-exports-this}\n",
        "No export named nobody-exports-this found.",
    ),
    "dynamic-reference": (
        "  Vpc:\n    Type: AWS::EC2::VPC\n"
        '    Properties: {CidrBlock: "{{resolve:ssm:/network/cidr}}"}\n'
        "  Other:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: [First, Vpc]\n"
        '    Properties: {Name: "{{resolve:secretsmanager:prod/name:SecretString:name}}"}\n',
        "Dynamic reference {{resolve:secretsmanager:prod/name:SecretString:name}} cannot be "
        "resolved here: montemap has no Secrets Manager",
    ),
    "lambda-raises": (RAISES, "RuntimeError: the handler broke on purpose"),
    "never-answers": (SILENT, f"did not answer within {CUSTOM_TIMEOUT} s"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_an_event_and_rolls_back(cfn_server: MontemapServer, case: str) -> None:
    cfn = client(cfn_server)
    body, reason = CASES[case]
    bucket = f"bad-{case}-first"
    cfn.create_stack(StackName=f"bad-{case}", TemplateBody=BUCKET_FIRST % bucket + body)
    stack = finished(cfn, f"bad-{case}")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, f"bad-{case}")
    reasons = [r for _, status, r in events(cfn, f"bad-{case}") if status.endswith("FAILED")]
    assert any(reason in r for r in reasons), reasons
    s3 = cfn_server.client("s3")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert cfn.list_stack_resources(StackName=f"bad-{case}")["StackResourceSummaries"] == []


def test_a_template_that_does_not_parse_is_refused(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    with pytest.raises(cfn.exceptions.ClientError, match="Template format error"):
        cfn.create_stack(StackName="unparsable", TemplateBody="Resources: [1, 2")


CONSTRAINED = """
Parameters:
  Word:
    Type: String
    AllowedPattern: "[a-z]+"
    MinLength: 2
    MaxLength: 5
  Described:
    Type: String
    Default: ok
    AllowedPattern: "[a-z]+"
    ConstraintDescription: must be lowercase letters
  Count:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 10
  Sizes:
    Type: List<Number>
    Default: "1,2"
    MaxValue: 3
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Sub "constrained-${Word}"}
"""
PARAMETER_CASES = {
    "pattern": ({"Word": "ABC"}, "Parameter 'Word' must match pattern [a-z]+"),
    "partial-match": ({"Word": "abc1"}, "Parameter 'Word' must match pattern [a-z]+"),
    "min-length": ({"Word": "a"}, "Parameter 'Word' must contain at least 2 characters"),
    "max-length": ({"Word": "abcdef"}, "Parameter 'Word' must contain at most 5 characters"),
    "described": (
        {"Word": "abc", "Described": "NO"},
        "Parameter 'Described' failed to satisfy constraint: must be lowercase letters",
    ),
    "min-value": ({"Word": "abc", "Count": "0"}, "Parameter 'Count' must be a number greater"),
    "max-value": ({"Word": "abc", "Count": "11"}, "Parameter 'Count' must be a number less"),
    "list-member": ({"Word": "abc", "Sizes": "1,4"}, "Parameter 'Sizes' must be a number less"),
    "not-a-number": ({"Word": "abc", "Count": "many"}, "Parameter 'Count' must be a number"),
    "missing": ({}, "Parameters: [Word] must have values"),
    "unknown": ({"Word": "abc", "Other": "x"}, "Parameters: [Other] do not exist in the template"),
}


@pytest.mark.parametrize("case", sorted(PARAMETER_CASES))
def test_bad_parameters_are_refused_before_any_stack(cfn_server: MontemapServer, case: str) -> None:
    """As on AWS: CreateStack and CreateChangeSet answer ValidationError, nothing is created."""
    cfn = client(cfn_server)
    given, message = PARAMETER_CASES[case]
    request = {
        "TemplateBody": CONSTRAINED,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()],
    }
    name = f"params-{case}"
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        cfn.create_stack(StackName=name, **request)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(cfn.exceptions.ClientError, match="ValidationError") as refused:
        cfn.create_change_set(
            StackName=name, ChangeSetName="first", ChangeSetType="CREATE", **request
        )
    assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)


def test_good_parameters_deploy_and_updates_are_checked_too(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    word = [{"ParameterKey": "Word", "ParameterValue": "abc"}]
    cfn.create_stack(StackName="params-good", TemplateBody=CONSTRAINED, Parameters=word)
    assert finished(cfn, "params-good")["StackStatus"] == "CREATE_COMPLETE"
    bad = [{"ParameterKey": "Word", "ParameterValue": "toolong"}]
    with pytest.raises(cfn.exceptions.ClientError, match="must contain at most 5"):
        cfn.update_stack(StackName="params-good", TemplateBody=CONSTRAINED, Parameters=bad)
    with pytest.raises(cfn.exceptions.ClientError, match="must contain at most 5"):
        cfn.create_change_set(
            StackName="params-good", ChangeSetName="u", TemplateBody=CONSTRAINED, Parameters=bad
        )
    assert finished(cfn, "params-good")["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.list_change_sets(StackName="params-good")["Summaries"] == []


@pytest.mark.parametrize("name", ["1starts-with-digit", "has_underscore", "dot.ted", "x" * 129])
def test_a_bad_stack_name_is_refused(cfn_server: MontemapServer, name: str) -> None:
    """As on AWS: a letter, then letters, digits and hyphens, at most 128 characters."""
    cfn = client(cfn_server)
    body = "Resources:\n  A: {Type: AWS::StepFunctions::Activity}\n"
    with pytest.raises(cfn.exceptions.ClientError, match="at 'stackName' failed to satisfy"):
        cfn.create_stack(StackName=name, TemplateBody=body)
    with pytest.raises(cfn.exceptions.ClientError, match="at 'stackName' failed to satisfy"):
        cfn.create_change_set(
            StackName=name, ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body
        )
    names = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]
    assert name not in names


def test_a_good_stack_name_of_128_characters(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    name = "Mixed-Case-1" + "x" * 116
    cfn.create_stack(StackName=name, TemplateBody="Resources:\n  A: {Type: AWS::S3::Bucket}\n")
    assert finished(cfn, name)["StackStatus"] == "CREATE_COMPLETE"


INVALID_TEMPLATES = {
    "made-up-type": (
        "  Mystery:\n    Type: AWS::Made::Up\n",
        "Template format error: Unrecognized resource types: [AWS::Made::Up]",
    ),
    "circular": (
        "  A:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: B\n"
        "  B:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: A\n",
        "Circular dependency between resources: [A, B]",
    ),
    "bad-attribute": (
        "Outputs:\n  Where: {Value: !GetAtt First.Nowhere}\n",
        "Template error: resource First does not support attribute type Nowhere in Fn::GetAtt",
    ),
    "bad-attribute-in-sub": (
        "  Other:\n    Type: AWS::StepFunctions::Activity\n"
        '    Properties: {Name: !Sub "x-${First.Arn}-${First.Owner}"}\n',
        "Template error: resource First does not support attribute type Owner in Fn::GetAtt",
    ),
    "unresolved-output": (
        "Outputs:\n  Where: {Value: !Ref Elsewhere}\n",
        "Template format error: Unresolved resource dependencies [Elsewhere] in the Outputs "
        "block of the template",
    ),
    "unresolved": (
        "  Other:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: !Ref Nothing}\n",
        "Template format error: Unresolved resource dependencies [Nothing] in the Resources "
        "block of the template",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_TEMPLATES))
def test_an_invalid_template_is_refused_before_any_stack(
    cfn_server: MontemapServer, case: str
) -> None:
    """As on AWS: CreateStack and CreateChangeSet answer ValidationError; no stack is left."""
    cfn = client(cfn_server)
    body, message = INVALID_TEMPLATES[case]
    template = BUCKET_FIRST % f"invalid-{case}" + body
    name = f"invalid-{case}"
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        cfn.create_stack(StackName=name, TemplateBody=template)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == message
    with pytest.raises(cfn.exceptions.ClientError, match="ValidationError") as refused:
        cfn.create_change_set(
            StackName=name, ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=template
        )
    assert refused.value.response["Error"]["Message"] == message
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)


ROLE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      %s
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
"""


def test_iam_resources_need_their_capability(cfn_server: MontemapServer) -> None:
    """As on AWS: InsufficientCapabilitiesException unless CAPABILITY_IAM (or, for a named
    IAM resource, CAPABILITY_NAMED_IAM) is acknowledged; ValidateTemplate says which."""
    cfn = client(cfn_server)
    unnamed, named = ROLE % "Path: /", ROLE % "RoleName: capability-named"
    for body, needed in ((unnamed, "CAPABILITY_IAM"), (named, "CAPABILITY_NAMED_IAM")):
        with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException) as refused:
            cfn.create_stack(StackName="caps", TemplateBody=body)
        assert refused.value.response["Error"]["Message"] == f"Requires capabilities : [{needed}]"
        with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException) as refused:
            cfn.create_change_set(
                StackName="caps", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body
            )
        assert refused.value.response["Error"]["Message"] == f"Requires capabilities : [{needed}]"
        validated = cfn.validate_template(TemplateBody=body)
        assert validated["Capabilities"] == [needed]
        assert validated["CapabilitiesReason"] == (
            "The following resource(s) require capabilities: [AWS::IAM::Role]"
        )
        summary = cfn.get_template_summary(TemplateBody=body)
        assert summary["Capabilities"] == [needed]
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException):
        cfn.create_stack(StackName="caps", TemplateBody=named, Capabilities=["CAPABILITY_IAM"])
    cfn.create_stack(StackName="caps", TemplateBody=unnamed, Capabilities=["CAPABILITY_IAM"])
    assert finished(cfn, "caps")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(
        StackName="caps-named", TemplateBody=named, Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    assert finished(cfn, "caps-named")["StackStatus"] == "CREATE_COMPLETE"
    sam = "Transform: AWS::Serverless-2016-10-31\n" + unnamed
    summary = cfn.get_template_summary(TemplateBody=sam)
    assert summary["Capabilities"] == ["CAPABILITY_AUTO_EXPAND"]
    assert summary["DeclaredTransforms"] == ["AWS::Serverless-2016-10-31"]
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException, match="AUTO_EXPAND"):
        cfn.create_stack(StackName="caps-sam", TemplateBody=sam, Capabilities=["CAPABILITY_IAM"])


def test_a_stack_that_rolled_back_can_only_be_deleted(cfn_server: MontemapServer) -> None:
    """As on AWS: ROLLBACK_COMPLETE refuses UpdateStack and update change sets."""
    cfn = client(cfn_server)
    body = BUCKET_FIRST % "rolled-back-first" + (
        "  Table:\n    Type: AWS::DynamoDB::Table\n    DependsOn: First\n"
    )
    stack_id = cfn.create_stack(StackName="rolled-back", TemplateBody=body)["StackId"]
    assert finished(cfn, "rolled-back")["StackStatus"] == "ROLLBACK_COMPLETE"
    good = BUCKET_FIRST % "rolled-back-first"
    message = f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated."
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        cfn.update_stack(StackName="rolled-back", TemplateBody=good)
    assert refused.value.response["Error"]["Message"] == message
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        cfn.create_change_set(StackName="rolled-back", ChangeSetName="u", TemplateBody=good)
    assert refused.value.response["Error"]["Message"] == message
    cfn.delete_stack(StackName="rolled-back")
    assert finished(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    cfn.create_stack(StackName="rolled-back", TemplateBody=good)
    assert finished(cfn, "rolled-back")["StackStatus"] == "CREATE_COMPLETE"


SAM_FUNCTION = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(e, c):\\n    return 1\\n"
"""


def test_a_transforms_iam_resources_need_the_capability(cfn_server: MontemapServer) -> None:
    """As on AWS (`sam deploy` without --capabilities): the role SAM adds needs
    CAPABILITY_IAM; the refusal leaves no stack behind."""
    cfn = client(cfn_server)
    with pytest.raises(
        cfn.exceptions.InsufficientCapabilitiesException, match=r"\[CAPABILITY_IAM\]"
    ):
        cfn.create_change_set(
            StackName="sam-caps",
            ChangeSetName="c",
            ChangeSetType="CREATE",
            TemplateBody=SAM_FUNCTION,
        )
    with pytest.raises(
        cfn.exceptions.InsufficientCapabilitiesException, match=r"\[CAPABILITY_IAM\]"
    ):
        cfn.create_stack(
            StackName="sam-caps", TemplateBody=SAM_FUNCTION, Capabilities=["CAPABILITY_AUTO_EXPAND"]
        )
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="sam-caps")
    cfn.create_change_set(
        StackName="sam-caps",
        ChangeSetName="c",
        ChangeSetType="CREATE",
        TemplateBody=SAM_FUNCTION,
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.execute_change_set(StackName="sam-caps", ChangeSetName="c")
    assert finished(cfn, "sam-caps")["StackStatus"] == "CREATE_COMPLETE"


EXPORTING = """
Parameters:
  Suffix: {Type: String, Default: one}
Resources:
  Jobs: {Type: AWS::StepFunctions::Activity, Properties: {Name: !Sub "exported-${Suffix}"}}
Outputs:
  Jobs: {Value: !GetAtt Jobs.Name, Export: {Name: exported-jobs}}
"""
IMPORTING = """
Resources:
  Other: {Type: AWS::StepFunctions::Activity}
Outputs:
  Seen: {Value: !ImportValue exported-jobs}
"""


def test_an_imported_export_can_be_neither_changed_nor_removed(
    cfn_server: MontemapServer,
) -> None:
    """As on AWS: the exporting stack's update fails with the reason and rolls back."""
    cfn = client(cfn_server)
    cfn.create_stack(StackName="exporting", TemplateBody=EXPORTING)
    assert finished(cfn, "exporting")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(StackName="importing", TemplateBody=IMPORTING)
    assert finished(cfn, "importing")["StackStatus"] == "CREATE_COMPLETE"
    changed = [{"ParameterKey": "Suffix", "ParameterValue": "two"}]
    cfn.update_stack(StackName="exporting", TemplateBody=EXPORTING, Parameters=changed)
    assert finished(cfn, "exporting")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reasons = [r for _, s, r in events(cfn, "exporting") if s == "UPDATE_ROLLBACK_IN_PROGRESS"]
    assert reasons == ["Cannot update export exported-jobs as it is in use by importing"]
    without = EXPORTING.split("Outputs:")[0]
    cfn.update_stack(StackName="exporting", TemplateBody=without)
    assert finished(cfn, "exporting")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reasons = [r for _, s, r in events(cfn, "exporting") if s == "UPDATE_ROLLBACK_IN_PROGRESS"]
    assert reasons[-1] == "Export exported-jobs cannot be deleted as it is in use by importing"
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports["exported-jobs"] == "exported-one"
    activities = {a["name"] for a in cfn_server.client().list_activities()["activities"]}
    assert "exported-one" in activities and "exported-two" not in activities

"""The Rules section (assertions on parameters) and Fn::Cidr, against a real server."""

from __future__ import annotations

import ipaddress

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

RULES = """
Parameters:
  Environment: {Type: String, Default: test, AllowedValues: [test, prod]}
  Size: {Type: String, Default: small}
  Zones: {Type: CommaDelimitedList, Default: "a,b"}
  Subnets: {Type: "List<AWS::EC2::Subnet::Id>", Default: "subnet-1,subnet-2"}
Rules:
  ProdIsLarge:
    RuleCondition: !Equals [!Ref Environment, prod]
    Assertions:
      - Assert: !Contains [[large, xlarge], !Ref Size]
        AssertDescription: For a production environment, Size must be large or xlarge
  ZonesKnown:
    Assertions:
      - Assert: !EachMemberIn [!Ref Zones, [a, b, c]]
        AssertDescription: Zones must be among a, b and c
      - Assert: {"Fn::Not": [{"Fn::EachMemberEquals": [!Ref Zones, c]}]}
        AssertDescription: Zones cannot all be c
      - Assert:
          Fn::And:
            - Fn::EachMemberIn: [!Ref Subnets, {"Fn::RefAll": "AWS::EC2::Subnet::Id"}]
            - Fn::Or: [!Equals [!Ref Size, small], !Equals [!Ref Environment, prod]]
        AssertDescription: Outside production, Size must be small
Resources:
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: !Sub "rules-${AWS::StackName}"}
"""
#: (parameters, the failed assertion's description, or "" when every rule holds)
CASES = {
    "defaults": ({}, ""),
    "prod-large": ({"Environment": "prod", "Size": "large"}, ""),
    "prod-small": (
        {"Environment": "prod"},
        "For a production environment, Size must be large or xlarge",
    ),
    "zone-d": ({"Zones": "a,d"}, "Zones must be among a, b and c"),
    "all-c": ({"Zones": "c,c"}, "Zones cannot all be c"),
    "test-large": ({"Size": "large"}, "Outside production, Size must be small"),
}


def _given(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_check_parameters_before_any_resource(cfn_server: MontemapServer, case: str) -> None:
    cfn = client(cfn_server)
    values, failure = CASES[case]
    name = f"rules-{case}"
    cfn.create_stack(StackName=name, TemplateBody=RULES, Parameters=_given(values))
    stack = finished(cfn, name)
    activities = [a["name"] for a in cfn_server.client().list_activities()["activities"]]
    if not failure:
        assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, name)
        assert f"rules-{name}" in activities
        return
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, status, r in events(cfn, name) if status == "CREATE_FAILED"]
    assert failed == [failure]
    assert f"rules-{name}" not in activities
    assert [n for n, *_ in events(cfn, name)] == [name] * len(events(cfn, name))


def test_a_failing_rule_fails_the_change_set(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_change_set(
        StackName="rules-change-set",
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=RULES,
        Parameters=_given({"Environment": "prod"}),
    )
    change_set = cfn.describe_change_set(StackName="rules-change-set", ChangeSetName="first")
    assert change_set["Status"] == "FAILED"
    assert change_set["StatusReason"] == (
        "For a production environment, Size must be large or xlarge"
    )


def test_value_of_says_it_needs_an_aws_account(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    body = RULES.replace(
        "Rules:\n",
        "Rules:\n  Tagged:\n    Assertions:\n"
        "      - Assert: !Equals [!ValueOf [Subnets, VpcId], vpc-1]\n",
    )
    cfn.create_stack(StackName="rules-value-of", TemplateBody=body)
    assert finished(cfn, "rules-value-of")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "rules-value-of") if s == "CREATE_FAILED"]
    assert len(failed) == 1 and "Fn::ValueOf [Subnets, VpcId] cannot be evaluated here" in failed[0]


CIDR = """
Parameters:
  Block: {Type: String, Default: 10.0.0.0/16}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: !Ref Block}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: !Select [2, !Cidr [!Ref Block, 4, 8]]
Outputs:
  Blocks: {Value: !Join [",", {"Fn::Cidr": ["192.168.0.0/24", "6", "5"]}]}
  Third: {Value: !Select [2, !Cidr [!Ref Block, 4, 8]]}
  Six: {Value: !Select [1, !Cidr ["2001:db8::/56", 2, 64]]}
"""


def test_cidr_splits_blocks_as_cloudformation_documents(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="cidr", TemplateBody=CIDR)
    stack = finished(cfn, "cidr")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "cidr")
    shown = outputs(stack)
    blocks = [ipaddress.ip_network(b) for b in shown["Blocks"].split(",")]
    assert [b.prefixlen for b in blocks] == [27] * 6
    assert [int(b.network_address) - int(blocks[0].network_address) for b in blocks] == [
        32 * i for i in range(6)
    ]
    assert str(blocks[0]) == "192.168.0.0/27"
    assert shown["Third"] == "10.0.2.0/24"
    assert shown["Six"] == "2001:db8:0:1::/64"


@pytest.mark.parametrize(
    ("slug", "args", "reason"),
    [
        ("too-many", '["10.0.0.0/24", 3, 7]', "cannot make 3 blocks of /25 in 10.0.0.0/24"),
        ("none", '["10.0.0.0/24", 0, 4]', "count must be between 1 and 256, not 0"),
        ("too-wide", '["10.0.0.0/24", 1, 9]', "cidrBits 9 does not fit in 10.0.0.0/24"),
        ("not-cidr", '["not-a-block", 1, 4]', "ipBlock 'not-a-block' is not a CIDR block"),
    ],
)
def test_bad_cidr_is_an_event_and_rolls_back(
    cfn_server: MontemapServer, slug: str, args: str, reason: str
) -> None:
    cfn = client(cfn_server)
    name = f"cidr-bad-{slug}"
    body = (
        "Resources:\n  Subnet:\n    Type: AWS::EC2::Subnet\n"
        f'    Properties: {{CidrBlock: {{"Fn::Select": [0, {{"Fn::Cidr": {args}}}]}}}}\n'
    )
    cfn.create_stack(StackName=name, TemplateBody=body)
    assert finished(cfn, name)["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, name) if s == "CREATE_FAILED"]
    assert any(reason in r for r in failed), failed

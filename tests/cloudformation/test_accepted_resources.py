"""Resources accepted without effect still give identifiers of the shape AWS gives them."""

from __future__ import annotations

import re

from montemap.testing import MontemapServer

from .helpers import client, events, finished, outputs

SHAPES = """
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /aws/states/shapes-logs}
  Unnamed: {Type: AWS::Logs::LogGroup}
  Topic: {Type: AWS::SNS::Topic, Properties: {TopicName: shapes-topic}}
  Key: {Type: AWS::KMS::Key}
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.1.0.0/16}}
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: g, VpcId: !Ref Vpc}
  Rule: {Type: AWS::Events::Rule, Properties: {ScheduleExpression: rate(1 hour)}}
  Dashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardBody: !Join ["", ['{"source": "', !Select [6, !Split [":", !GetAtt Logs.Arn]], '"}']]
  Archive:
    Type: AWS::Events::Archive
    Properties: {SourceArn: !GetAtt Bus.Arn}
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: shapes-bus}}
  User: {Type: AWS::IAM::User}
  Balancer: {Type: AWS::ElasticLoadBalancingV2::LoadBalancer}
  Targets:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties: {Name: shapes-targets, Port: 80, Protocol: HTTP}
Outputs:
  BusArn: {Value: !GetAtt Bus.Arn}
  UserArn: {Value: !GetAtt User.Arn}
  BalancerRef: {Value: !Ref Balancer}
  BalancerUrl: {Value: !Sub "http://${Balancer.DNSName}/"}
  TargetsRef: {Value: !Ref Targets}
  LogsRef: {Value: !Ref Logs}
  LogsArn: {Value: !GetAtt Logs.Arn}
  LogsName: {Value: !Select [6, !Split [":", !GetAtt Logs.Arn]]}
  UnnamedRef: {Value: !Ref Unnamed}
  UnnamedArn: {Value: !GetAtt Unnamed.Arn}
  TopicRef: {Value: !Ref Topic}
  TopicName: {Value: !GetAtt Topic.TopicName}
  KeyRef: {Value: !Ref Key}
  KeyArn: {Value: !GetAtt Key.Arn}
  VpcRef: {Value: !Ref Vpc}
  VpcCidr: {Value: !GetAtt Vpc.CidrBlock}
  GroupId: {Value: !GetAtt Group.GroupId}
  GroupVpc: {Value: !GetAtt Group.VpcId}
  RuleArn: {Value: !GetAtt Rule.Arn}
  ArchiveArn: {Value: !GetAtt Archive.Arn}
"""


def test_accepted_resources_give_names_ids_and_arns_as_aws_does(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="shapes", TemplateBody=SHAPES, Capabilities=["CAPABILITY_IAM"])
    stack = finished(cfn, "shapes")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "shapes")
    shown = outputs(stack)
    account = "arn:aws:logs:us-east-1:123456789012"
    assert shown["LogsRef"] == "/aws/states/shapes-logs"
    assert shown["LogsArn"] == f"{account}:log-group:/aws/states/shapes-logs:*"
    assert shown["LogsName"] == "/aws/states/shapes-logs"
    assert re.fullmatch(r"shapes-Unnamed-[A-Z0-9]{12}", shown["UnnamedRef"])
    assert shown["UnnamedArn"] == f"{account}:log-group:{shown['UnnamedRef']}:*"
    assert shown["TopicRef"] == "arn:aws:sns:us-east-1:123456789012:shapes-topic"
    assert shown["TopicName"] == "shapes-topic"
    assert re.fullmatch(r"[0-9a-f-]{36}", shown["KeyRef"])
    assert shown["KeyArn"] == f"arn:aws:kms:us-east-1:123456789012:key/{shown['KeyRef']}"
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", shown["VpcRef"])
    assert shown["VpcCidr"] == "10.1.0.0/16"
    assert re.fullmatch(r"sg-[0-9a-f]{17}", shown["GroupId"])
    assert shown["GroupVpc"] == shown["VpcRef"]
    assert re.fullmatch(
        r"arn:aws:events:us-east-1:123456789012:rule/shapes-Rule-\w+", shown["RuleArn"]
    )
    assert shown["BusArn"] == "arn:aws:events:us-east-1:123456789012:event-bus/shapes-bus"
    # IAM is global: its ARNs have no region
    assert re.fullmatch(r"arn:aws:iam::123456789012:user/shapes-User-\w+", shown["UserArn"])
    elb = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
    assert re.fullmatch(
        rf"{elb}:loadbalancer/app/shapes-Balancer-\w+/[0-9a-f]{{16}}", shown["BalancerRef"]
    )
    assert len(shown["BalancerRef"].split("/")[2]) <= 32  # a load balancer's name limit
    assert re.fullmatch(
        r"http://shapes-Balancer-\w+-\d+\.us-east-1\.elb\.amazonaws\.com/", shown["BalancerUrl"]
    )
    assert re.fullmatch(rf"{elb}:targetgroup/shapes-targets/[0-9a-f]{{16}}", shown["TargetsRef"])
    assert shown["ArchiveArn"].startswith("arn:aws:events:us-east-1:123456789012:archive/")
    cfn.update_stack(
        StackName="shapes",
        TemplateBody=SHAPES.replace("10.1.0.0/16", "10.2.0.0/16").replace(
            "KMS::Key}", "KMS::Key, Properties: {Description: changed}}"
        ),
        Capabilities=["CAPABILITY_IAM"],
    )
    updated = finished(cfn, "shapes")
    assert updated["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "shapes")
    again = outputs(updated)
    assert again["VpcCidr"] == "10.2.0.0/16"
    assert again["LogsArn"] == shown["LogsArn"] and again["KeyArn"] == shown["KeyArn"]
    # a VPC's CidrBlock only creation sets: a new VPC, as the change set said
    assert again["VpcRef"] != shown["VpcRef"] and again["GroupVpc"] == again["VpcRef"]
    renamed = SHAPES.replace("/aws/states/shapes-logs", "/aws/states/renamed")
    made = cfn.create_change_set(
        StackName="shapes",
        ChangeSetName="rename",
        TemplateBody=renamed,
        Capabilities=["CAPABILITY_IAM"],
    )
    described = cfn.describe_change_set(ChangeSetName=made["Id"])
    (logs,) = [
        c["ResourceChange"]
        for c in described["Changes"]
        if c["ResourceChange"]["LogicalResourceId"] == "Logs"
    ]
    assert (logs["Action"], logs["Replacement"]) == ("Modify", "True")
    cfn.execute_change_set(ChangeSetName=made["Id"])
    last = outputs(finished(cfn, "shapes"))
    assert last["LogsName"] == "/aws/states/renamed"
    assert last["LogsArn"] == f"{account}:log-group:/aws/states/renamed:*"


GRADUAL = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return 'first'\\n"
      AutoPublishAlias: live
      DeploymentPreference: {Type: Canary10Percent5Minutes}
Outputs:
  Alias: {Value: !Ref Fn.Alias}
"""


def test_a_function_deployment_preference_moves_its_alias_at_once(
    cfn_server: MontemapServer,
) -> None:
    """SAM's DeploymentPreference adds CodeDeploy resources (they failed the stack as an
    unrecognized type): accepted, the event says there is no gradual deployment."""
    cfn, lambdas = client(cfn_server), cfn_server.client("lambda")
    capabilities = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    cfn.create_stack(StackName="t-gradual", TemplateBody=GRADUAL, Capabilities=capabilities)
    stack = finished(cfn, "t-gradual")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-gradual")
    notes = [r for name, _, r in events(cfn, "t-gradual") if name == "FnDeploymentGroup" and r]
    assert notes and "no gradual deployment here" in notes[0]
    cfn.update_stack(
        StackName="t-gradual",
        TemplateBody=GRADUAL.replace("'first'", "'second'"),
        Capabilities=capabilities,
    )
    stack = finished(cfn, "t-gradual")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "t-gradual")
    answer = lambdas.invoke(FunctionName=outputs(stack)["Alias"])["Payload"].read()
    assert answer == b'"second"'

"""Working out CloudFormation's values offline."""

from __future__ import annotations

import pytest

from montemap.aws import AwsError, Resolver
from montemap.aws.resolve import partition_of
from tests.aws.helpers import resolver, stack_template


def test_names_and_arns_of_the_stack() -> None:
    r = resolver()
    assert r.ref("Activity") == "arn:aws:states:eu-west-1:111122223333:activity:mm-credit"
    assert r.ref("SourceBucket") == "mm-source-111122223333-eu-west-1"
    assert r.get_att("SourceBucket", "Arn") == "arn:aws:s3:::mm-source-111122223333-eu-west-1"
    assert r.ref("Cluster") == "mm"
    assert r.get_att("WorkerService", "Name") == "mm-workers"
    assert r.ref("WorkerService") == "arn:aws:ecs:eu-west-1:111122223333:service/mm/mm-workers"
    assert (
        r.get_att("LogGroup", "Arn")
        == "arn:aws:logs:eu-west-1:111122223333:log-group:/montemap/mm:*"
    )
    assert r.ref("DataProcessingStateMachine").endswith(":stateMachine:mm-data-processing")
    assert r.value({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-eu-west-1"
    assert r.value({"Fn::Sub": ["${A}/${B}", {"A": "x", "B": {"Ref": "AWS::AccountId"}}]}) == (
        "x/111122223333"
    )
    assert r.value({"Fn::Join": ["-", ["a", {"Ref": "ImageTag"}]]}) == "a-v1"
    image = r.value(
        stack_template()["Resources"]["SmallTaskDefinition"]["Properties"]["ContainerDefinitions"][
            0
        ]["Image"]
    )
    assert image == "111122223333.dkr.ecr.eu-west-1.amazonaws.com/montemap:v1"


def test_what_cannot_be_known_is_refused_by_name() -> None:
    r = resolver()
    with pytest.raises(AwsError, match=r"DataProcessingRole\.Arn .* before it is deployed"):
        r.get_att("DataProcessingRole", "Arn")
    with pytest.raises(AwsError, match="no parameter or resource 'Nope'"):
        r.ref("Nope")
    with pytest.raises(AwsError, match="cannot work out Fn::Select offline"):
        r.value({"Fn::Select": [0, ["a"]]})
    with pytest.raises(AwsError, match="parameter ImageTag has no default"):
        Resolver(stack_template(), account="111122223333", region="eu-west-1").ref("ImageTag")
    with pytest.raises(AwsError, match="account id '1234' must be 12 digits"):
        Resolver(stack_template(), account="1234", region="eu-west-1")
    with pytest.raises(AwsError, match="does not look like an AWS region"):
        Resolver(stack_template(), account="111122223333", region="Europe")


def test_partitions() -> None:
    assert partition_of("cn-north-1") == ("aws-cn", "amazonaws.com.cn")
    assert partition_of("us-gov-west-1")[0] == "aws-us-gov"
    assert partition_of("eu-west-1") == ("aws", "amazonaws.com")

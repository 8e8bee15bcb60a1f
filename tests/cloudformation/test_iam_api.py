"""The IAM query API subset, as boto3 scripts use it: roles, inline, attached and managed
policies, tags, paging, and the error codes and HTTP statuses IAM's API reference gives."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import finished, outputs

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)


@pytest.fixture(scope="module")
def iam(cfn_server: MontemapServer) -> Iterator[Any]:
    client = cfn_server.client("iam")
    yield client
    client.close()


def _role(iam: Any, **kwargs: Any) -> str:
    name = f"role-{uuid.uuid4().hex[:10]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, **kwargs)
    return name


def _refused(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    response = refused.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


def test_delete_role_removes_it_and_a_missing_role_is_no_such_entity(iam: Any) -> None:
    name = _role(iam)
    iam.delete_role(RoleName=name)
    status, code, message = _refused(iam.get_role, RoleName=name)
    assert (status, code) == (404, "NoSuchEntity")
    assert message == f"The role with name {name} cannot be found."
    assert _refused(iam.delete_role, RoleName=name)[:2] == (404, "NoSuchEntity")


def test_a_role_with_policies_is_not_deleted(iam: Any) -> None:
    name = _role(iam)
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=POLICY)
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert _refused(iam.delete_role, RoleName=name) == (
        409,
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    assert _refused(iam.delete_role, RoleName=name) == (
        409,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    )
    iam.detach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.delete_role(RoleName=name)


def test_inline_role_policies_are_put_read_listed_and_deleted(iam: Any) -> None:
    name = _role(iam)
    iam.put_role_policy(RoleName=name, PolicyName="b-read", PolicyDocument=POLICY)
    iam.put_role_policy(RoleName=name, PolicyName="a-read", PolicyDocument=POLICY)
    got = iam.get_role_policy(RoleName=name, PolicyName="b-read")
    assert (got["RoleName"], got["PolicyName"]) == (name, "b-read")
    assert got["PolicyDocument"] == json.loads(POLICY)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["a-read", "b-read"]
    page = iam.list_role_policies(RoleName=name, MaxItems=1)
    assert (page["PolicyNames"], page["IsTruncated"]) == (["a-read"], True)
    rest = iam.list_role_policies(RoleName=name, Marker=page["Marker"])
    assert (rest["PolicyNames"], rest["IsTruncated"]) == (["b-read"], False)
    iam.delete_role_policy(RoleName=name, PolicyName="b-read")
    assert _refused(iam.get_role_policy, RoleName=name, PolicyName="b-read") == (
        404,
        "NoSuchEntity",
        "The role policy with name b-read cannot be found.",
    )
    assert _refused(iam.delete_role_policy, RoleName=name, PolicyName="b-read")[1] == (
        "NoSuchEntity"
    )
    assert _refused(iam.list_role_policies, RoleName="no-such-role")[1] == "NoSuchEntity"


def test_attached_policies_are_listed_and_detached(iam: Any) -> None:
    name = _role(iam)
    arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AdministratorAccess"]
    for arn in arns:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    listed = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert listed == [
        {"PolicyName": "AdministratorAccess", "PolicyArn": arns[1]},
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": arns[0]},
    ]
    iam.detach_role_policy(RoleName=name, PolicyArn=arns[0])
    assert _refused(iam.detach_role_policy, RoleName=name, PolicyArn=arns[0]) == (
        404,
        "NoSuchEntity",
        f"Policy {arns[0]} was not found.",
    )
    missing = "arn:aws:iam::123456789012:policy/not-created"
    assert _refused(iam.attach_role_policy, RoleName=name, PolicyArn=missing) == (
        404,
        "NoSuchEntity",
        f"Policy {missing} does not exist or is not attachable.",
    )
    assert _refused(
        iam.attach_role_policy, RoleName=name, PolicyArn="arn:aws:s3:::a-bucket-not-a-policy"
    )[1] == ("InvalidInput")


def test_role_names_paths_and_documents_are_validated(iam: Any) -> None:
    status, code, message = _refused(
        iam.create_role, RoleName="has space", AssumeRolePolicyDocument=TRUST
    )
    assert (status, code) == (400, "ValidationError")
    assert "Member must satisfy regular expression pattern: [\\w+=,.@-]+" in message
    assert "at 'roleName'" in message
    too_long = _refused(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)
    assert too_long[1] == "ValidationError" and "less than or equal to 64" in too_long[2]
    iam.create_role(RoleName="r" * 64, AssumeRolePolicyDocument=TRUST)  # the longest allowed
    iam.delete_role(RoleName="r" * 64)
    bad_path = _refused(
        iam.create_role, RoleName="pathless", Path="service", AssumeRolePolicyDocument=TRUST
    )
    assert bad_path[1] == "ValidationError" and "at 'path'" in bad_path[2]
    assert _refused(iam.create_role, RoleName="not-json", AssumeRolePolicyDocument="{oops") == (
        400,
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
    )
    name = _role(iam)
    assert _refused(iam.create_role, RoleName=name, AssumeRolePolicyDocument=TRUST) == (
        409,
        "EntityAlreadyExists",
        f"Role with name {name} already exists.",
    )
    assert _refused(iam.put_role_policy, RoleName=name, PolicyName="p", PolicyDocument="not json")[
        1
    ] == ("MalformedPolicyDocument")
    with_path = _role(iam, Path="/team/app/", Description="d", MaxSessionDuration=7200)
    role = iam.get_role(RoleName=with_path)["Role"]
    assert role["Arn"].endswith(f":role/team/app/{with_path}")
    assert (role["Description"], role["MaxSessionDuration"]) == ("d", 7200)


def test_list_roles_pages_through_every_role_once(iam: Any) -> None:
    prefix = f"/paging{uuid.uuid4().hex[:6]}/"
    names = sorted(_role(iam, Path=prefix) for _ in range(5))
    first = iam.list_roles(PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] is True and len(first["Roles"]) == 2
    iam.delete_role(RoleName=first["Roles"][0]["RoleName"])  # a change between pages
    seen = [r["RoleName"] for r in first["Roles"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_roles(PathPrefix=prefix, MaxItems=2, Marker=marker)
        seen += [r["RoleName"] for r in page["Roles"]]
        marker = page.get("Marker") if page["IsTruncated"] else None
    assert seen == names
    paginator = iam.get_paginator("list_roles")
    pages = paginator.paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 1})
    assert [r["RoleName"] for p in pages for r in p["Roles"]] == names[1:]


def test_managed_policies_are_created_read_attached_and_deleted(iam: Any) -> None:
    name = f"policy-{uuid.uuid4().hex[:8]}"
    policy = iam.create_policy(PolicyName=name, PolicyDocument=POLICY, Path="/app/")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::123456789012:policy/app/{name}"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    assert _refused(iam.create_policy, PolicyName=name, PolicyDocument=POLICY)[:2] == (
        409,
        "EntityAlreadyExists",
    )
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(POLICY) and version["IsDefaultVersion"] is True
    role = _role(iam)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    local = iam.list_policies(Scope="Local", PathPrefix="/app/")["Policies"]
    assert arn in [p["Arn"] for p in local]
    assert _refused(iam.delete_policy, PolicyArn=arn) == (
        409,
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
    )
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    assert _refused(iam.get_policy, PolicyArn=arn)[:2] == (404, "NoSuchEntity")


def test_role_tags_descriptions_and_trust_policies_change(iam: Any) -> None:
    name = _role(iam, Tags=[{"Key": "team", "Value": "a"}])
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "team", "Value": "a"}]
    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "x"}])
    iam.untag_role(RoleName=name, TagKeys=["env"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "team", "Value": "b"}]
    iam.update_role(RoleName=name, Description="updated")
    trust = json.loads(TRUST)
    trust["Statement"][0]["Principal"] = {"Service": "states.amazonaws.com"}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    role = iam.get_role(RoleName=name)["Role"]
    assert role["Description"] == "updated"
    assert role["AssumeRolePolicyDocument"] == trust


def test_a_service_linked_role_is_created_once(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    status, code, message = _refused(
        iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com"
    )
    assert (status, code) == (400, "InvalidInput")
    assert "has been taken in this account" in message


def test_iam_errors_have_the_query_protocols_xml_shape(iam: Any) -> None:
    """botocore reads Type, Code and Message from ``<ErrorResponse><Error>...``."""
    with pytest.raises(ClientError) as refused:
        iam.get_role_policy(RoleName="no-such-role", PolicyName="p")
    error = refused.value.response["Error"]
    assert error == {
        "Type": "Sender",
        "Code": "NoSuchEntity",
        "Message": "The role with name no-such-role cannot be found.",
    }
    assert refused.value.response["ResponseMetadata"]["RequestId"]


def test_role_names_are_unique_whatever_their_case(iam: Any) -> None:
    name = f"CaseRole{uuid.uuid4().hex[:6]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]
    assert "Description" not in role  # none given, none shown
    assert _refused(iam.create_role, RoleName=name.lower(), AssumeRolePolicyDocument=TRUST) == (
        409,
        "EntityAlreadyExists",
        f"Role with name {name} already exists.",
    )


def test_the_boto3_resource_walks_from_policies_to_roles(
    iam: Any, cfn_server: MontemapServer
) -> None:
    """``Policy.attached_roles``, ``Policy.versions`` and ``Role.instance_profiles`` are
    ListEntitiesForPolicy, ListPolicyVersions and ListInstanceProfilesForRole."""
    session: Any = boto3.session.Session()
    resource = session.resource(
        "iam",
        endpoint_url=cfn_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    role = resource.Role(_role(iam))
    policy = resource.create_policy(
        PolicyName=f"walk-{uuid.uuid4().hex[:8]}", PolicyDocument=POLICY
    )
    role.attach_policy(PolicyArn=policy.arn)
    aws_managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    role.attach_policy(PolicyArn=aws_managed)
    assert [r.name for r in policy.attached_roles.all()] == [role.name]
    assert [(v.version_id, v.is_default_version) for v in policy.versions.all()] == [("v1", True)]
    assert list(role.instance_profiles.all()) == []
    entities = iam.list_entities_for_policy(PolicyArn=aws_managed)
    assert role.name in [r["RoleName"] for r in entities["PolicyRoles"]]
    assert (entities["PolicyGroups"], entities["PolicyUsers"]) == ([], [])
    assert (
        iam.list_entities_for_policy(PolicyArn=policy.arn, EntityFilter="User")["PolicyRoles"] == []
    )
    missing = f"arn:aws:iam::123456789012:policy/none-{uuid.uuid4().hex[:6]}"
    assert _refused(iam.list_entities_for_policy, PolicyArn=missing)[:2] == (404, "NoSuchEntity")
    status, code, message = _refused(iam.get_policy, PolicyArn=aws_managed)
    assert (status, code) == (404, "NoSuchEntity") and "AWS managed" in message


def test_instance_profiles_from_a_template_are_read_for_their_role(
    iam: Any, cfn_server: MontemapServer
) -> None:
    cfn = cfn_server.client("cloudformation")
    stack = f"profiles-{uuid.uuid4().hex[:6]}"
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": json.loads(TRUST)},
            },
            "Profile": {
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": {"Path": "/fleet/", "Roles": [{"Ref": "Role"}]},
            },
        },
        "Outputs": {"Role": {"Value": {"Ref": "Role"}}, "Profile": {"Value": {"Ref": "Profile"}}},
    }
    cfn.create_stack(
        StackName=stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    done = finished(cfn, stack)
    assert done["StackStatus"] == "CREATE_COMPLETE"
    names = outputs(done)
    listed = iam.list_instance_profiles_for_role(RoleName=names["Role"])["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == [names["Profile"]]
    profile = iam.get_instance_profile(InstanceProfileName=names["Profile"])["InstanceProfile"]
    assert profile["Path"] == "/fleet/"
    assert profile["Arn"] == f"arn:aws:iam::123456789012:instance-profile/{names['Profile']}"
    assert profile["InstanceProfileId"].startswith("AIPA")
    assert [r["RoleName"] for r in profile["Roles"]] == [names["Role"]]
    assert "Description" not in iam.get_role(RoleName=names["Role"])["Role"]  # none given
    assert names["Profile"] in [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles(PathPrefix="/fleet/")["InstanceProfiles"]
    ]
    assert _refused(iam.delete_role, RoleName=names["Role"]) == (
        409,
        "DeleteConflict",
        "Cannot delete entity, must remove roles from instance profile first.",
    )
    assert _refused(iam.get_instance_profile, InstanceProfileName="none")[:2] == (
        404,
        "NoSuchEntity",
    )
    cfn.delete_stack(StackName=stack)  # the profile goes first, then its role
    eventually(lambda: _gone(iam, names["Role"]), timeout=60, what="the stack's role deleted")


def _gone(iam: Any, role: str) -> bool:
    return role not in [r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]]


def test_a_role_policy_resource_puts_and_removes_its_inline_policy(
    iam: Any, cfn_server: MontemapServer
) -> None:
    cfn = cfn_server.client("cloudformation")
    stack = f"rolepolicy-{uuid.uuid4().hex[:6]}"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}  # fmt: skip
    template: dict[str, Any] = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": json.loads(TRUST)},
            },
            "Inline": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "RoleName": {"Ref": "Role"},
                    "PolicyName": "s3-all",
                    "PolicyDocument": document,
                },
            },
        },
        "Outputs": {"Role": {"Value": {"Ref": "Role"}}, "Inline": {"Value": {"Ref": "Inline"}}},
    }
    cfn.create_stack(
        StackName=stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    done = finished(cfn, stack)
    assert done["StackStatus"] == "CREATE_COMPLETE"
    names = outputs(done)
    assert names["Inline"] == f"s3-all|{names['Role']}"
    got = iam.get_role_policy(RoleName=names["Role"], PolicyName="s3-all")
    assert got["PolicyDocument"] == document
    del template["Resources"]["Inline"], template["Outputs"]["Inline"]
    cfn.update_stack(
        StackName=stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    assert finished(cfn, stack)["StackStatus"] == "UPDATE_COMPLETE"
    assert iam.list_role_policies(RoleName=names["Role"])["PolicyNames"] == []

"""CloudFormation, IAM and STS never answer XML a client cannot parse.

Before: ``CreateRole`` with ``Description=%00`` (or ``%01``, any control character
XML 1.0 cannot carry) was stored, and from then on every ``GetRole`` of it and
every ``ListRoles`` (every role, everybody's) answered a document boto3 refuses
("invalid XML received"); a YAML template's ``Description: "a\\x01b"`` did the
same to ``DescribeStacks``. Now such a parameter is refused with 400
``ValidationError`` before anything is written, and what a response would show
of it (stored earlier, or from a YAML escape) is answered as U+FFFD.
"""

from __future__ import annotations

import http.client
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(shared_montemap_server: MontemapServer) -> MontemapServer:
    return shared_montemap_server


def post(server: MontemapServer, body: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("POST", "/", body=body.encode(), headers=FORM)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("character", ["%00", "%01", "%0B", "%1F", "%EF%BF%BF"])
def test_a_role_description_xml_cannot_carry_is_refused(
    server: MontemapServer, character: str
) -> None:
    name = f"xml-{uuid.uuid4().hex[:10]}"
    status, body = post(
        server,
        f"Action=CreateRole&Version=2010-05-08&RoleName={name}"
        f"&AssumeRolePolicyDocument=%7B%7D&Description=a{character}b",
    )
    assert status == 400, body
    assert b"<Code>ValidationError</Code>" in body
    iam = server.client("iam")
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName=name)
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    assert isinstance(iam.list_roles()["Roles"], list)  # still parses


def test_tab_cr_and_lf_are_kept(server: MontemapServer) -> None:
    name = f"xml-{uuid.uuid4().hex[:10]}"
    iam = server.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}", Description="a\tb")
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "a\tb"


def test_a_yaml_escape_xml_cannot_carry_is_answered_as_a_replacement(
    server: MontemapServer,
) -> None:
    name = f"xml-{uuid.uuid4().hex[:10]}"
    template = (
        'Description: "made \\x01 by YAML"\n'
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::StepFunctions::Activity\n"
        "    Properties:\n"
        f"      Name: {name}\n"
    )
    cfn = server.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=template)

    def described() -> dict[str, Any] | None:
        stacks = cfn.describe_stacks()["Stacks"]  # every stack: it must parse
        ours = [stack for stack in stacks if stack["StackName"] == name]
        return ours[0] if ours and ours[0]["StackStatus"] == "CREATE_COMPLETE" else None

    stack = eventually(described, timeout=30, what="the stack created")
    assert stack["Description"] == "made \ufffd by YAML"
    cfn.delete_stack(StackName=name)

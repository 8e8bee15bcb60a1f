"""AWS::S3::Bucket Tags, VersioningConfiguration and AccessControl, seen through the S3 API."""

from __future__ import annotations

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

TEMPLATE = """
Parameters:
  Team: {Type: String}
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: settings-store
      AccessControl: PublicRead
      VersioningConfiguration: {Status: Enabled}
      Tags:
        - {Key: team, Value: !Ref Team}
        - {Key: purpose, Value: tests}
"""


def test_bucket_settings_are_recorded_and_updated(cfn_server: MontemapServer) -> None:
    cfn, s3 = client(cfn_server), cfn_server.client("s3")
    given = [{"ParameterKey": "Team", "ParameterValue": "risk"}]
    cfn.create_stack(StackName="settings", TemplateBody=TEMPLATE, Parameters=given)
    assert finished(cfn, "settings")["StackStatus"] == "CREATE_COMPLETE", events(cfn, "settings")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="settings-store")["TagSet"]}
    assert tags == {"team": "risk", "purpose": "tests"}
    grants = s3.get_bucket_acl(Bucket="settings-store")["Grants"]
    assert any(
        g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("/global/AllUsers")
        for g in grants
    ), grants
    notes = [r for n, s, r in events(cfn, "settings") if n == "Store" and s == "CREATE_COMPLETE"]
    assert notes and "VersioningConfiguration Enabled: accepted, no local effect" in notes[0]

    given = [{"ParameterKey": "Team", "ParameterValue": "treasury"}]
    body = TEMPLATE.replace("Status: Enabled", "Status: Suspended")
    cfn.update_stack(StackName="settings", TemplateBody=body, Parameters=given)
    assert finished(cfn, "settings")["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "settings")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="settings-store")["TagSet"]}
    assert tags["team"] == "treasury"
    assert s3.get_bucket_versioning(Bucket="settings-store")["Status"] == "Suspended"


def test_a_bad_tag_fails_the_bucket_and_rolls_back(cfn_server: MontemapServer) -> None:
    cfn, s3 = client(cfn_server), cfn_server.client("s3")
    body = TEMPLATE.replace("settings-store", "settings-bad").replace("Key: purpose", "Key: aws:x")
    given = [{"ParameterKey": "Team", "ParameterValue": "risk"}]
    cfn.create_stack(StackName="settings-bad", TemplateBody=body, Parameters=given)
    assert finished(cfn, "settings-bad")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "settings-bad") if s == "CREATE_FAILED"]
    assert any("cannot be prefixed with aws: ('aws:x')" in r for r in failed), failed
    assert "settings-bad" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_properties_without_local_effect_are_named_in_the_event(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    body = """
Resources:
  Quiet:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: settings-quiet
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
      LifecycleConfiguration: {Rules: [{Status: Enabled, ExpirationInDays: 1}]}
      NotificationConfiguration:
        TopicConfigurations:
          - {Event: "s3:ObjectCreated:*", Topic: arn:aws:sns:us-east-1:123456789012:t}
"""
    cfn.create_stack(StackName="settings-quiet", TemplateBody=body)
    assert finished(cfn, "settings-quiet")["StackStatus"] == "CREATE_COMPLETE"
    notes = [
        r for n, s, r in events(cfn, "settings-quiet") if n == "Quiet" and s == "CREATE_COMPLETE"
    ]
    assert "TopicConfigurations: accepted, no local effect (SNS topics are not served" in notes[0]
    assert "BucketEncryption, LifecycleConfiguration: accepted, no local effect" in notes[0]

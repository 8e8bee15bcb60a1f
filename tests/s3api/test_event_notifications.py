"""S3 event notifications to Lambda: a bucket's configuration (checked as S3 checks it),
and objects written or deleted through the S3 API invoking the functions it names."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.s3api.errors import S3Error
from montemap.s3api.notification_config import parse_configuration
from montemap.storage.notification_rules import Rule
from montemap.testing import eventually
from tests.lambda_api.helpers import create

#: Records each event it gets as an object of the bucket $OUT, named for the event.
RECORDER = """
import json, os
import boto3

def handler(event, context):
    record = event["Records"][0]
    name = record["eventName"] + "/" + record["s3"]["object"]["key"]
    boto3.client("s3").put_object(Bucket=os.environ["OUT"], Key=name, Body=json.dumps(event))
"""


def _names() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"in-{tag}", f"out-{tag}", f"recorder-{tag}"


def _setup(server: Any) -> tuple[Any, str, str, str]:
    """(s3 client, source bucket, output bucket, the recorder's ARN)."""
    s3 = server.client("s3")
    source, out, function = _names()
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=out)
    arn = create(
        server.client("lambda"),
        function,
        {"index.py": RECORDER},
        Environment={"Variables": {"OUT": out}},
    )["FunctionArn"]
    return s3, source, out, arn


def _lambda_rule(arn: str, events: list[str], **filters: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"Id": f"rule-{len(events)}", "LambdaFunctionArn": arn, "Events": events}
    if filters:
        rules = [{"Name": name, "Value": value} for name, value in filters.items()]
        rule["Filter"] = {"Key": {"FilterRules": rules}}
    return rule


def _event(s3: Any, out: str, name: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        try:
            body = s3.get_object(Bucket=out, Key=name)["Body"].read()
        except ClientError:
            return None
        record: dict[str, Any] = json.loads(body)["Records"][0]
        return record

    result: dict[str, Any] = eventually(found, what=f"the event {name}")
    return result


def test_objects_written_and_deleted_invoke_the_function(shared_montemap_server: Any) -> None:
    s3, source, out, arn = _setup(shared_montemap_server)
    config = {
        "LambdaFunctionConfigurations": [
            _lambda_rule(arn, ["s3:ObjectCreated:*"], prefix="in/", suffix=".csv"),
            _lambda_rule(arn, ["s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"]),
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=source, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=source)
    first, second = got["LambdaFunctionConfigurations"]
    assert first["Filter"]["Key"]["FilterRules"] == [  # S3 answers the names capitalised
        {"Name": "Prefix", "Value": "in/"},
        {"Name": "Suffix", "Value": ".csv"},
    ]
    assert {k: v for k, v in first.items() if k != "Filter"} == {
        "Id": "rule-1",
        "LambdaFunctionArn": arn,
        "Events": ["s3:ObjectCreated:*"],
    }
    assert second == config["LambdaFunctionConfigurations"][1]

    written = s3.put_object(Bucket=source, Key="in/a b.csv", Body=b"x,y\n")
    etag = written["ETag"]
    put = _event(s3, out, "ObjectCreated:Put/in/a+b.csv")
    # the event names the request that caused it, as its answer did
    assert put["responseElements"]["x-amz-request-id"] == written["ResponseMetadata"]["RequestId"]
    assert put["eventSource"] == "aws:s3" and put["eventVersion"] == "2.1"
    assert put["s3"]["bucket"] == {
        "name": source,
        "ownerIdentity": {"principalId": "montemap"},
        "arn": f"arn:aws:s3:::{source}",
    }
    assert put["s3"]["configurationId"] == "rule-1"
    obj = put["s3"]["object"]
    assert (obj["key"], obj["size"], obj["eTag"]) == ("in/a+b.csv", 4, etag.strip('"'))
    assert obj["sequencer"]

    s3.copy_object(
        Bucket=source, Key="in/copy.csv", CopySource={"Bucket": source, "Key": "in/a b.csv"}
    )
    assert _event(s3, out, "ObjectCreated:Copy/in/copy.csv")["s3"]["object"]["size"] == 4
    upload = s3.create_multipart_upload(Bucket=source, Key="in/big.csv")["UploadId"]
    part = s3.upload_part(Bucket=source, Key="in/big.csv", UploadId=upload, PartNumber=1, Body=b"z")
    s3.complete_multipart_upload(
        Bucket=source,
        Key="in/big.csv",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert (
        _event(s3, out, "ObjectCreated:CompleteMultipartUpload/in/big.csv")["s3"]["object"]["size"]
        == 1
    )
    s3.delete_object(Bucket=source, Key="in/copy.csv")
    removed = _event(s3, out, "ObjectRemoved:Delete/in/copy.csv")
    assert removed["s3"]["configurationId"] == "rule-2"
    assert "size" not in removed["s3"]["object"]
    s3.delete_objects(Bucket=source, Delete={"Objects": [{"Key": "other.txt"}]})
    _event(s3, out, "ObjectRemoved:Delete/other.txt")

    s3.put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket=source
    )


def _refusal(s3: Any, bucket: str, config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=config, **kwargs
        )
    error: dict[str, Any] = dict(caught.value.response["Error"])
    return error


def test_configurations_s3_refuses_are_refused(shared_montemap_server: Any) -> None:
    s3, source, _, arn = _setup(shared_montemap_server)
    missing = arn + "-missing"
    error = _refusal(
        s3,
        source,
        {"LambdaFunctionConfigurations": [_lambda_rule(missing, ["s3:ObjectCreated:*"])]},
    )
    assert error["Code"] == "InvalidArgument"
    assert "Unable to validate the following destination configurations" in error["Message"]
    overlapping = {
        "LambdaFunctionConfigurations": [
            {**_lambda_rule(arn, ["s3:ObjectCreated:Put"], prefix="a/"), "Id": "one"},
            {**_lambda_rule(arn, ["s3:ObjectCreated:*"], prefix="a/b/"), "Id": "two"},
        ]
    }
    assert "Configurations overlap" in _refusal(s3, source, overlapping)["Message"]
    topic = {"TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:1:t", "Events": ["s3:ObjectCreated:*"]}]}  # fmt: skip
    assert "SNS" in _refusal(s3, source, topic)["Message"]
    assert _refusal(s3, source, {"EventBridgeConfiguration": {}})["Code"] == "NotImplemented"
    # the destination check can be skipped, as S3 allows
    s3.put_bucket_notification_configuration(
        Bucket=source,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [_lambda_rule(missing, ["s3:ObjectCreated:*"])]
        },
        SkipDestinationValidation=True,
    )
    s3.put_object(Bucket=source, Key="k", Body=b"")  # the event is dropped, the write stands
    assert s3.head_object(Bucket=source, Key="k")["ContentLength"] == 0
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_notification_configuration(Bucket="no-such-bucket-here")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"


def _document(*rules: str) -> bytes:
    return (
        '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + "".join(rules)
        + "</NotificationConfiguration>"
    ).encode()


def _rule_xml(events: list[str], prefix: str = "", suffix: str = "", rule_id: str = "") -> str:
    filters = "".join(
        f"<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>"
        for n, v in (("prefix", prefix), ("suffix", suffix))
        if v
    )
    return (
        "<CloudFunctionConfiguration>"
        + (f"<Id>{rule_id}</Id>" if rule_id else "")
        + "<CloudFunction>arn:aws:lambda:us-east-1:123456789012:function:f</CloudFunction>"
        + "".join(f"<Event>{e}</Event>" for e in events)
        + (f"<Filter><S3Key>{filters}</S3Key></Filter>" if filters else "")
        + "</CloudFunctionConfiguration>"
    )


def test_a_rule_matches_its_event_types_and_key_filter() -> None:
    (rule,) = parse_configuration(_document(_rule_xml(["s3:ObjectCreated:Put"], "in/", ".csv")))
    assert rule.matches("ObjectCreated:Put", "in/x.csv")
    assert not rule.matches("ObjectCreated:Copy", "in/x.csv")
    assert not rule.matches("ObjectCreated:Put", "out/x.csv")
    assert not rule.matches("ObjectCreated:Put", "in/x.json")
    everything = Rule("r", "arn", ("s3:ObjectRemoved:*",))
    assert everything.matches("ObjectRemoved:Delete", "any")
    assert not everything.matches("ObjectCreated:Put", "any")


_CREATED = ["s3:ObjectCreated:*"]
_BAD = [
    ([_rule_xml(["s3:ObjectCreated:Bogus"])], "not supported for notifications"),
    ([_rule_xml([])], "at least one Event"),
    ([_rule_xml(_CREATED, rule_id="x"), _rule_xml(["s3:ObjectRemoved:*"], rule_id="x")], "unique"),
    (
        [_rule_xml(_CREATED, suffix=".csv"), _rule_xml(["s3:ObjectCreated:Put"], suffix="a.csv")],
        "overlap",
    ),
]


@pytest.mark.parametrize(("rules", "words"), _BAD)
def test_bad_configurations_name_the_problem(rules: list[str], words: str) -> None:
    with pytest.raises(S3Error) as caught:
        parse_configuration(_document(*rules))
    assert words in caught.value.message


def test_rules_on_other_events_or_disjoint_keys_do_not_overlap() -> None:
    rules = parse_configuration(
        _document(
            _rule_xml(["s3:ObjectCreated:*"], prefix="a/"),
            _rule_xml(["s3:ObjectCreated:*"], prefix="b/"),
            _rule_xml(["s3:ObjectRemoved:*"], prefix="a/"),
            _rule_xml(["s3:ObjectCreated:*"], prefix="a/", suffix=".csv", rule_id="csv").replace(
                "a/<", "c/<"
            ),
        )
    )
    assert len(rules) == 4


def test_a_key_filter_matches_the_url_encoded_key() -> None:
    # S3 documents filter values written URL-encoded: a space as "+", "=" as "%3D"
    (spaced,) = parse_configuration(_document(_rule_xml(_CREATED, prefix="my+folder/")))
    assert spaced.matches("ObjectCreated:Put", "my folder/a.csv")
    assert not spaced.matches("ObjectCreated:Put", "my+folder/a.csv")  # "+" itself is %2B
    (hive,) = parse_configuration(_document(_rule_xml(_CREATED, prefix="year%3D2024/")))
    assert hive.matches("ObjectCreated:Put", "year=2024/part-0.parquet")
    (raw,) = parse_configuration(_document(_rule_xml(_CREATED, prefix="year=2024/")))
    assert not raw.matches("ObjectCreated:Put", "year=2024/part-0.parquet")
    (suffixed,) = parse_configuration(_document(_rule_xml(_CREATED, suffix="%28final%29.csv")))
    assert suffixed.matches("ObjectCreated:Put", "report (final).csv")
    assert not suffixed.matches("ObjectCreated:Put", "report-final.csv")


def test_tagging_and_acl_changes_send_their_events(shared_montemap_server: Any) -> None:
    s3, source, out, arn = _setup(shared_montemap_server)
    rules = [_lambda_rule(arn, ["s3:ObjectTagging:*", "s3:ObjectAcl:Put"])]
    s3.put_bucket_notification_configuration(
        Bucket=source, NotificationConfiguration={"LambdaFunctionConfigurations": rules}
    )
    etag = s3.put_object(Bucket=source, Key="doc.txt", Body=b"text")["ETag"].strip('"')
    s3.put_object_tagging(
        Bucket=source, Key="doc.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    tagged = _event(s3, out, "ObjectTagging:Put/doc.txt")
    assert tagged["eventVersion"] == "2.3"  # S3's version for tagging and ACL events
    assert tagged["s3"]["object"]["eTag"] == etag
    assert "size" not in tagged["s3"]["object"]
    s3.delete_object_tagging(Bucket=source, Key="doc.txt")
    _event(s3, out, "ObjectTagging:Delete/doc.txt")
    s3.put_object_acl(Bucket=source, Key="doc.txt", ACL="public-read")
    assert _event(s3, out, "ObjectAcl:Put/doc.txt")["eventVersion"] == "2.3"
    # the write itself was not subscribed to
    with pytest.raises(ClientError):
        s3.head_object(Bucket=out, Key="ObjectCreated:Put/doc.txt")

"""A call signed for a service the endpoint does not serve fails at once, in that
service's own protocol, naming the service: never a parse error, a bare 404 or a
Step Functions "unknown operation"."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing.server import DUMMY_AWS_ENV

CALLS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("dynamodb", "Amazon DynamoDB", lambda c: c.list_tables()),  # JSON 1.0
    ("sqs", "Amazon Simple Queue Service", lambda c: c.list_queues()),
    ("events", "Amazon EventBridge", lambda c: c.list_rules()),
    ("sns", "Amazon Simple Notification Service", lambda c: c.list_topics()),  # query
    ("ec2", "Amazon Elastic Compute Cloud", lambda c: c.describe_vpcs()),  # EC2's XML
    ("athena", "Amazon Athena", lambda c: c.list_work_groups()),  # REST JSON
    ("route53", "Amazon Route 53", lambda c: c.list_hosted_zones()),  # REST XML
]


@pytest.mark.parametrize(("service", "full_name", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_boto3_gets_not_implemented_naming_the_service(
    shared_montemap_server: Any, service: str, full_name: str, call: Callable[[Any], Any]
) -> None:
    client = shared_montemap_server.client(service, retries={"max_attempts": 3})
    with pytest.raises(ClientError) as caught:
        call(client)
    response = caught.value.response
    assert response["Error"]["Code"] == "NotImplemented"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["ResponseMetadata"].get("RetryAttempts", 0) == 0  # 501 is not retried
    assert f"montemap does not serve {full_name}" in response["Error"]["Message"]
    assert "Step Functions, S3, Lambda" in response["Error"]["Message"]


def test_the_aws_cli_prints_the_reason(shared_montemap_server: Any) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("aws")), "dynamodb", "list-tables",
         "--endpoint-url", shared_montemap_server.url],
        env={**os.environ, **DUMMY_AWS_ENV}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "(NotImplemented)" in done.stderr
    assert "montemap does not serve Amazon DynamoDB" in done.stderr


def test_served_services_are_still_served(shared_montemap_server: Any) -> None:
    assert "activities" in shared_montemap_server.client().list_activities()
    assert "Buckets" in shared_montemap_server.client("s3").list_buckets()

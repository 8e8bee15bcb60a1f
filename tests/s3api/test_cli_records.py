"""The AWS CLI's ``s3api`` commands for tagging, ACLs, versioning and upload listings."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from montemap.testing import DUMMY_AWS_ENV, MontemapServer
from tests.s3api.test_cli import AWS


def s3api(server: MontemapServer, *args: str, ok: bool = True) -> Any:
    done = subprocess.run(
        [str(AWS), "--endpoint-url", server.url, "--output", "json", "s3api", *args],
        env={**os.environ, **DUMMY_AWS_ENV},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    if not ok:
        assert done.returncode != 0
        return done.stderr
    assert done.returncode == 0, f"aws s3api {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_s3api_commands(s3_server: MontemapServer, s3: Any) -> None:
    s3.create_bucket(Bucket="cli-records")
    s3.put_object(Bucket="cli-records", Key="k", Body=b"x")
    b, k = ("--bucket", "cli-records"), ("--key", "k")
    s3api(s3_server, "put-object-tagging", *b, *k, "--tagging", "TagSet=[{Key=a,Value=1}]")
    assert s3api(s3_server, "get-object-tagging", *b, *k)["TagSet"] == [{"Key": "a", "Value": "1"}]
    s3api(s3_server, "delete-object-tagging", *b, *k)
    assert s3api(s3_server, "get-object-tagging", *b, *k)["TagSet"] == []
    s3api(s3_server, "put-bucket-tagging", *b, "--tagging", "TagSet=[{Key=team,Value=risk}]")
    assert s3api(s3_server, "get-bucket-tagging", *b)["TagSet"] == [
        {"Key": "team", "Value": "risk"}
    ]
    assert s3api(s3_server, "get-bucket-versioning", *b) is None  # no Status: never versioned
    config = "Status=Suspended"
    s3api(s3_server, "put-bucket-versioning", *b, "--versioning-configuration", config)
    assert s3api(s3_server, "get-bucket-versioning", *b) == {"Status": "Suspended"}
    refused = s3api(
        s3_server,
        "put-bucket-versioning",
        *b,
        "--versioning-configuration",
        "Status=Enabled",
        ok=False,
    )
    assert "NotImplemented" in refused
    s3api(s3_server, "put-bucket-acl", *b, "--acl", "private")
    grants = s3api(s3_server, "get-bucket-acl", *b)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    assert "InvalidArgument" in s3api(s3_server, "put-bucket-acl", *b, "--acl", "nope", ok=False)
    upload = s3api(s3_server, "create-multipart-upload", *b, "--key", "big")["UploadId"]
    listed = s3api(s3_server, "list-multipart-uploads", *b)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("big", upload)]
    s3api(s3_server, "put-object", *b, "--key", "t", "--tagging", "x=1&y=2")
    assert s3api(s3_server, "get-object", *b, "--key", "t", os.devnull)["TagCount"] == 2

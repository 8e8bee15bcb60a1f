"""The S3 API and the engine share one object store: each sees what the other writes."""

from __future__ import annotations

import gzip
import json
from typing import Any

from montemap.testing import MontemapServer
from montemap.testing.waiting import wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"


def _run(sfn: Any, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    return wait_for_execution(sfn, arn, timeout=60)


def _map(reader: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemReader": reader,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
                **fields,
            }
        },
    }


def test_distributed_map_reads_what_boto3_put(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"loans/{i:03d}.json", Body=json.dumps({"id": i}).encode())
    sfn = s3_server.client()
    reader = {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": bucket, "Prefix": "loans/"},
        "ReaderConfig": {"MaxItems": 0},  # 0: no limit, as AWS accepts it
    }
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": bucket, "Prefix": "results"},
    }
    done = _run(sfn, "reads-s3-puts", _map(reader, ResultWriter=writer))
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    manifest_key = output["ResultWriterDetails"]["Key"]
    # what the engine wrote is served by the S3 API
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    succeeded = manifest["ResultFiles"]["SUCCEEDED"]
    items = []
    for entry in succeeded:
        items += json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
    keys = sorted(json.loads(item["Input"])["Key"] for item in items)
    assert keys == [f"loans/{i:03d}.json" for i in range(7)]
    etags = {json.loads(item["Input"])["Key"]: json.loads(item["Input"])["Etag"] for item in items}
    assert etags["loans/003.json"] == s3.head_object(Bucket=bucket, Key="loans/003.json")["ETag"]


def test_manifest_with_plain_csv_parts(s3_server: MontemapServer, s3: Any, bucket: str) -> None:
    plain = "".join(f"{bucket},data/{i},10,2026-01-01\n" for i in range(3)).encode()
    zipped = gzip.compress(
        "".join(f"{bucket},data/{i},10,2026-01-01\n" for i in range(3, 5)).encode()
    )
    s3.put_object(Bucket=bucket, Key="inv/part-1.csv", Body=plain)
    s3.put_object(Bucket=bucket, Key="inv/part-2.csv.gz", Body=zipped)
    manifest = {
        "sourceBucket": bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": [{"key": "inv/part-1.csv"}, {"key": "inv/part-2.csv.gz"}],
    }
    s3.put_object(Bucket=bucket, Key="inv/manifest.json", Body=json.dumps(manifest).encode())
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": bucket, "Key": "inv/manifest.json"},
        "ReaderConfig": {"InputType": "MANIFEST", "MaxItems": 0},
    }
    done = _run(s3_server.client(), "plain-manifest", _map(reader))
    assert done["status"] == "SUCCEEDED", done
    assert sorted(item["Key"] for item in json.loads(done["output"])) == [
        f"data/{i}" for i in range(5)
    ]

"""``montemap aws``: the subcommands, their files and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from montemap.aws import AwsError, load_yaml
from tests.aws.helpers import MAPPING_YAML, run_aws, write


def test_template_writes_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stack.yaml"
    assert run_aws("template", "--prefix", "mm", "--output", str(out)) == 0
    template = load_yaml(out.read_text())
    assert template["Resources"]["Activity"]["Properties"]["Name"] == "mm-credit"
    assert run_aws(
        "template", "--subnets", "subnet-0123abcd,subnet-4567ef01",
        "--security-groups", "sg-0123abcd", "--bucket-source", "acme-src",
    ) == 0  # fmt: skip
    printed = load_yaml(capsys.readouterr().out)
    vpc = printed["Resources"]["WorkerService"]["Properties"]["NetworkConfiguration"]
    assert vpc["AwsvpcConfiguration"]["Subnets"] == ["subnet-0123abcd", "subnet-4567ef01"]
    assert "SourceBucket" not in printed["Resources"] and "ResultsBucket" in printed["Resources"]


def test_template_refuses_bad_options() -> None:
    with pytest.raises(AwsError, match="--subnets and --security-groups go together"):
        run_aws("template", "--subnets", "subnet-0123abcd")


def test_definition_and_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "stack.yaml"
    run_aws("template", "--prefix", "mm", "--output", str(stack))
    where = ["--account-id", "111122223333", "--region", "eu-west-1"]
    assert run_aws("definition", str(stack), "data-processing", *where) == 0
    definition = json.loads(capsys.readouterr().out)
    task = definition["States"]["Partition Inventory"]["Parameters"]["FunctionName"]
    assert task == "arn:aws:lambda:eu-west-1:111122223333:function:mm-PartitionInventory"

    mapping = tmp_path / "mapping.json"
    assert run_aws("mapping", str(stack), *where, "--output", str(mapping)) == 0
    text = mapping.read_text()
    assert text.startswith("# montemap aws mapping")
    rules = json.loads(text.split("\n", 1)[1])
    assert rules["arn:aws:states:eu-west-1:111122223333:activity:mm-credit"] == (
        "arn:aws:states:us-east-1:123456789012:activity:montemap-credit"
    )
    assert rules["mm-workers"] == "montemap-workers"

    aws = write(tmp_path / "aws.json", json.dumps(definition))
    local = tmp_path / "local.json"
    assert run_aws("bind", str(aws), "--mapping", str(mapping), "-o", str(local), "--strict") == 0
    bound = json.loads(local.read_text())
    assert bound["States"]["Partition Inventory"]["Parameters"]["FunctionName"] == (
        "PartitionInventory"
    )


def test_errors_name_the_file(tmp_path: Path) -> None:
    where = ["--account-id", "111122223333", "--region", "eu-west-1"]
    with pytest.raises(AwsError, match="cannot read template"):
        run_aws("definition", str(tmp_path / "none.yaml"), "data-processing", *where)
    not_a_template = write(tmp_path / "x.yaml", "a: 1\n")
    with pytest.raises(AwsError, match="no Resources mapping"):
        run_aws("mapping", str(not_a_template), *where)
    mapping = write(tmp_path / "m.yaml", MAPPING_YAML)
    foreign = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "StartAt": "T",
                "States": {
                    "T": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:eu-west-1:999999999999:activity:x",
                        "End": True,
                    }
                },
            }
        ),
    )
    with pytest.raises(AwsError, match="left unmapped: arn:aws:states:eu-west-1:999999999999"):
        run_aws("bind", str(foreign), "--mapping", str(mapping), "--strict")
    with pytest.raises(AwsError, match="--create and --endpoint go together"):
        run_aws("bind", str(foreign), "--mapping", str(mapping), "--create", "x")


def test_collect_reads_the_summary_from_s3(moto_endpoint: str) -> None:
    from montemap.aws.collect import read_summary
    from montemap.storage import S3ObjectStore

    store = S3ObjectStore(endpoint_url=moto_endpoint, region_name="us-east-1")
    try:
        store.create_bucket("mm-results")
        store.put("mm-results", "runs/r1/summary.json", b'{"loans": 12}')
    finally:
        store.close()

    def opener() -> S3ObjectStore:
        return S3ObjectStore(endpoint_url=moto_endpoint, region_name="us-east-1")

    assert read_summary("s3://mm-results/runs/r1/", opener) == {"loans": 12}
    assert read_summary(None, opener) is None


def test_collect_refuses_what_is_not_an_execution() -> None:
    with pytest.raises(AwsError, match="is not an execution ARN"):
        run_aws("collect", "arn:aws:states:us-east-1:123456789012:stateMachine:x")


def test_collect_refuses_negative_prices_and_unwritable_output(tmp_path: Path) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:sm:run"
    with pytest.raises(AwsError, match="must not be negative"):
        run_aws("collect", arn, "--price-vcpu-hour", "-1")
    with pytest.raises(AwsError, match="cannot write"):
        run_aws("template", "--output", str(tmp_path / "missing" / "stack.yaml"))

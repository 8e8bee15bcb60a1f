"""The shipped workflows: binding, export, and the data-generation workflow on a real server."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.asl.definition import validate_definition
from montemap.testing import MontemapServer, wait_for_execution
from montemap.workflows import bindings
from montemap.workflows.functions import FunctionInputError, partition_inventory


def test_shipped_workflows_bind_and_validate() -> None:
    for name in bindings.WORKFLOWS:
        text = bindings.definition(name, bindings.local_bindings(ArnFactory()))
        assert "${" not in text
        assert [d for d in validate_definition(json.loads(text)) if d.severity == "ERROR"] == []


def test_data_processing_keeps_the_original_structure() -> None:
    d = json.loads(bindings.definition("data-processing", bindings.local_bindings(ArnFactory())))
    states = d["States"]
    assert list(states)[:4] == [
        "Runtime Properties",
        "Partition Inventory",
        "Scale Out Workers",
        "Process Partitions",
    ]
    assert states["Runtime Properties"]["Type"] == "Pass"
    assert states["Scale Out Workers"]["Resource"] == "arn:aws:states:::aws-sdk:ecs:updateService"
    assert states["Process Partitions"]["MaxConcurrency"] == 2
    dmap = states["Process Partitions"]["ItemProcessor"]["States"]["Processing DMap"]
    assert dmap["ItemReader"]["ReaderConfig"] == {"InputType": "MANIFEST"}
    assert dmap["MaxConcurrency"] == 1000
    assert "BatchInput" in dmap["ItemBatcher"]
    task = dmap["ItemProcessor"]["States"]["Run Activity"]
    assert (task["HeartbeatSeconds"], task["TimeoutSeconds"]) == (60, 180)
    assert task["Retry"] == [
        {
            "ErrorEquals": ["States.TaskFailed", "States.Timeout"],
            "IntervalSeconds": 30,
            "MaxAttempts": 3,
            "BackoffRate": 2,
        }
    ]
    assert task["Resource"] == ArnFactory().activity("montemap-credit")
    assert dmap["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert states["Destroy Workers"]["Parameters"]["DesiredCount"] == 0


def test_bind_refuses_missing_values() -> None:
    with pytest.raises(bindings.BindingError, match="no value for ActivityArn"):
        bindings.bind(
            bindings.template("data-processing"),
            {"SourceBucket": "b"}
            | {
                k: "x"
                for k in bindings.placeholders(bindings.template("data-processing"))
                if k != "ActivityArn"
            },
        )
    with pytest.raises(bindings.BindingError, match="no workflow 'nope'"):
        bindings.template("nope")


def test_bound_values_are_json_escaped() -> None:
    text = bindings.bind('{"a": "${X}"}', {"X": 'quote " and \\ backslash'})
    assert json.loads(text) == {"a": 'quote " and \\ backslash'}


def test_export_command_writes_plain_asl(tmp_path: Path) -> None:
    out = tmp_path / "dp.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "workflows",
            "export",
            "data-processing",
            "--set",
            "ActivityArn=arn:aws:states:eu-west-1:111122223333:activity:x",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "arn:aws:states:eu-west-1:111122223333:activity:x" in text and "${" not in text
    unbound = subprocess.run(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "workflows",
            "export",
            "data-generation",
            "--unbound",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "${SeedFunction}" in unbound.stdout


def _inventory_rows(bucket_dir: Path) -> set[str]:
    rows: set[str] = set()
    for path in sorted((bucket_dir / "inventory").glob("loans-*.csv.gz")):
        rows |= set(gzip.decompress(path.read_bytes()).decode().splitlines())
    return rows


def test_data_generation_workflow_matches_montemap_generate(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory()
    client = server.client()
    text = bindings.definition("data-generation", bindings.local_bindings(ArnFactory()))
    arn = client.create_state_machine(
        name="datagen", definition=text, roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    params = {"loans": 2500, "layout": "realistic", "seed": 3, "as_of": "2026-05-01"}
    execution = client.start_execution(stateMachineArn=arn, input=json.dumps(params))
    d = wait_for_execution(client, execution["executionArn"], timeout=120, interval=0.1)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["objects"] == 2500

    reference = tmp_path / "reference"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "generate",
            "--loans",
            "2500",
            "--seed",
            "3",
            "--as-of",
            "2026-05-01",
            "--data-dir",
            str(reference),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ours = server.data_dir / "buckets" / bindings.SOURCE_BUCKET
    theirs = reference / "buckets" / bindings.SOURCE_BUCKET
    for key in ("data/data-gen-000001.csv", "data/data-gen-001234.csv", "data/data-gen-002500.csv"):
        assert (ours / key).read_bytes() == (theirs / key).read_bytes()
    assert len(list((ours / "data").iterdir())) == 2500
    assert _inventory_rows(ours) == _inventory_rows(theirs)


def test_partition_inventory_splits_and_samples(tmp_path: Path, monkeypatch: Any) -> None:
    from montemap.credit.generator import generate
    from montemap.credit.portfolio import local_destination

    generate(local_destination(tmp_path), 3000, seed=1, rows_per_inventory_file=1000)
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path))
    event = {
        "source_bucket": bindings.SOURCE_BUCKET,
        "inventory_manifest": "inventory/manifest.json",
        "results_bucket": "results",
        "run_name": "r1",
        "partitions": 2,
        "sample_every": 1,
    }
    whole = partition_inventory(event)
    assert whole["objects"] == 3000 and len(whole["manifests"]) == 2
    sampled = partition_inventory({**event, "run_name": "r2", "sample_every": 10})
    assert sampled["objects"] == 300
    with pytest.raises(FunctionInputError, match=r"run_name '\.\./escape' is not a valid name"):
        partition_inventory({**event, "run_name": "../escape"})

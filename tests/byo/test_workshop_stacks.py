"""The workshop's shape, end to end: two stacks, both workflows, an unmodified boto3 worker.

Our own templates (tests/byo/stacks/) of the original workshop's shape are
deployed to a real server with the AWS CLI (and, in the second test, with
``montemap deploy``); the generation workflow writes one JSON object per loan
and a plain-CSV inventory, the processing workflow scales the ECS service
out, sends the loans in batches to the activity, where ``fargate.py`` (plain
boto3, no endpoint) reads each loan and writes its result, and scales the
service in. Every output object is checked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from montemap.testing import DUMMY_AWS_ENV, MontemapServer, eventually, wait_for_execution

STACKS = Path(__file__).parent / "stacks"
LOANS = 200
BATCH = 25
WORKERS = 2
GENERATION = {"DatasetSize": LOANS, "LoansPerChunk": 50, "InventoryPartSize": 80}
PROCESSING = {"Workers": WORKERS, "BatchSize": BATCH}


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("byo_fargate", STACKS / "fargate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def byo_server(server_factory: Callable[..., MontemapServer]) -> MontemapServer:
    server: MontemapServer = server_factory(extra_args=["--mapping", str(STACKS / "mapping.yaml")])
    return server


def _run(args: list[str]) -> None:
    env = {**os.environ, **DUMMY_AWS_ENV}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=110)
    assert done.returncode == 0, f"{' '.join(args[:6])}...\n{done.stdout}\n{done.stderr}"


def _cli_deploy(server: MontemapServer, name: str, template: str, params: dict[str, int]) -> None:
    overrides = [f"{k}={v}" for k, v in params.items()]
    _run(
        [
            *(sys.executable, "-m", "awscli", "cloudformation", "deploy"),
            *("--template-file", str(STACKS / template), "--stack-name", name),
            *("--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"),
            *("--endpoint-url", server.url, "--parameter-overrides", *overrides),
        ]
    )


def _montemap_deploy(
    server: MontemapServer, name: str, template: str, params: dict[str, int]
) -> None:
    pairs = [arg for k, v in params.items() for arg in ("--parameter", f"{k}={v}")]
    _run(
        [
            *(sys.executable, "-m", "montemap.cli", "deploy", str(STACKS / template)),
            *("--stack-name", name, "--endpoint-url", server.url, *pairs),
        ]
    )


def _outputs(server: MontemapServer, name: str) -> dict[str, str]:
    stack = server.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _body(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def _run_generation(server: MontemapServer, gen: dict[str, str]) -> None:
    sfn, s3 = server.client("stepfunctions"), server.client("s3")
    started = sfn.start_execution(stateMachineArn=gen["StateMachineArn"], input="{}")
    done = wait_for_execution(sfn, started["executionArn"], timeout=100)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["objects"] == LOANS and output["parts"] == 3, output
    loans = _keys(s3, gen["LoansBucket"], "loans/")
    assert sorted(loans) == [f"loans/L{n:08d}.json" for n in range(LOANS)]
    # the inventory: plain CSV parts, every loan once, listed by the manifest
    manifest = json.loads(_body(s3, gen["InventoryBucket"], "inventory/latest/manifest.json"))
    rows = []
    for entry in manifest["files"]:
        data = _body(s3, gen["InventoryBucket"], entry["key"])
        assert data[:2] != b"\x1f\x8b"  # not gzip: the case issue 15 found
        rows += [line.split(",")[1].strip('"') for line in data.decode().splitlines()]
    assert sorted(rows) == sorted(loans)
    # the custom resource's object
    config = json.loads(_body(s3, gen["LoansBucket"], "config/dataset.json"))
    assert config == {"loans": LOANS, "chunk": GENERATION["LoansPerChunk"]}


def _run_processing(server: MontemapServer, gen: dict[str, str], proc: dict[str, str]) -> None:
    sfn, s3, ecs = (server.client(s) for s in ("stepfunctions", "s3", "ecs"))
    started = sfn.start_execution(stateMachineArn=proc["StateMachineArn"], input="{}")
    done = wait_for_execution(sfn, started["executionArn"], timeout=100)
    assert done["status"] == "SUCCEEDED", (done, server.log_text())
    results_bucket = gen["ResultsBucket"]
    # one result per loan, nothing missing or duplicated, each from its own loan object
    simulate = _worker_module().simulate
    keys = _keys(s3, results_bucket, "results/")
    assert sorted(keys) == [f"results/L{n:08d}.json" for n in range(LOANS)]
    for key in keys:
        loan_key = "loans/" + key.removeprefix("results/")
        loan = json.loads(_body(s3, gen["LoansBucket"], loan_key))
        assert json.loads(_body(s3, results_bucket, key)) == simulate(loan)
    # the ResultWriter's manifest and the batches' outputs it lists
    manifests = [k for k in _keys(s3, results_bucket, "map-runs/") if k.endswith("manifest.json")]
    assert len(manifests) == 1, manifests
    manifest = json.loads(_body(s3, results_bucket, manifests[0]))
    assert manifest["DestinationBucket"] == results_bucket
    assert manifest["ResultFiles"].get("FAILED", []) == []
    children = []
    for entry in manifest["ResultFiles"]["SUCCEEDED"]:
        children += json.loads(_body(s3, results_bucket, entry["Key"]))
    assert len(children) == LOANS // BATCH
    assert all(child["Status"] == "SUCCEEDED" for child in children)
    assert sum(json.loads(child["Output"])["loans"] for child in children) == LOANS
    # the workflow scaled the service back in
    cluster, service = proc["ClusterName"], proc["ServiceName"]

    def scaled_in() -> dict[str, Any] | None:
        found = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        idle = found["desiredCount"] == 0 and found["runningCount"] == 0
        return found if idle and found["pendingCount"] == 0 else None

    eventually(scaled_in, timeout=60)


def _check_events(server: MontemapServer) -> None:
    """The stack's events say what the mapping changed."""
    cfn = server.client("cloudformation")
    found = cfn.describe_stack_events(StackName="sfn-dataproc")["StackEvents"]
    reasons = {
        e["LogicalResourceId"]: e.get("ResourceStatusReason", "")
        for e in found
        if e["ResourceStatus"] == "CREATE_COMPLETE"
    }
    assert "fargate.py" in reasons["SmallTaskDefinition"], reasons
    assert "instead of its image's command" in reasons["LargeTaskDefinition"], reasons


def test_workshop_stacks_with_the_aws_cli(byo_server: MontemapServer) -> None:
    _cli_deploy(byo_server, "sfn-datagen", "data-generation.yaml", GENERATION)
    _cli_deploy(byo_server, "sfn-dataproc", "data-processing.yaml", PROCESSING)
    _check_events(byo_server)
    gen, proc = _outputs(byo_server, "sfn-datagen"), _outputs(byo_server, "sfn-dataproc")
    exports = byo_server.client("cloudformation").list_exports()["Exports"]
    assert {e["Name"]: e["Value"] for e in exports}["sfn-datagen-DatasetSize"] == str(LOANS)
    _run_generation(byo_server, gen)
    _run_processing(byo_server, gen, proc)


def test_workshop_stacks_with_montemap_deploy(byo_server: MontemapServer) -> None:
    _montemap_deploy(byo_server, "sfn-datagen", "data-generation.yaml", GENERATION)
    _montemap_deploy(byo_server, "sfn-dataproc", "data-processing.yaml", PROCESSING)
    gen, proc = _outputs(byo_server, "sfn-datagen"), _outputs(byo_server, "sfn-dataproc")
    _run_generation(byo_server, gen)
    _run_processing(byo_server, gen, proc)

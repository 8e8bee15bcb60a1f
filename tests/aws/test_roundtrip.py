"""The generated AWS definitions, bound back to local resources, run to success here.

The definitions are exactly what CloudFormation will deploy (placeholders
filled with the stack's ARNs for account 111122223333 in eu-west-1); a
mapping file written as a user would write it binds them to a real local
server, where data generation writes a small portfolio and data processing
scales real worker processes through the local ECS service, simulates and
reduces it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.aws import aws_definitions
from montemap.testing import MontemapServer, wait_for_execution
from montemap.workflows.compare import figures
from tests.aws.helpers import MAPPING_YAML, resolver, run_aws, write

pytestmark = pytest.mark.timeout(300)


def test_generated_definitions_run_here(
    tmp_path: Path, server_factory: Callable[..., MontemapServer]
) -> None:
    server = server_factory()
    mapping = write(tmp_path / "mapping.yaml", MAPPING_YAML)
    definitions = aws_definitions(resolver())
    sfn, ecs = server.client(), server.client("ecs")
    try:
        ecs.create_service(
            cluster="default",
            serviceName="montemap-workers",
            taskDefinition="small",
            desiredCount=0,
        )
        arns = {}
        for workflow, text in definitions.items():
            assert "111122223333" in text  # really the AWS definition
            source = write(tmp_path / f"{workflow}.aws.json", text)
            assert run_aws(
                "bind", str(source), "--mapping", str(mapping), "--strict",
                "--create", f"aws-{workflow}", "--endpoint", server.url,
            ) == 0  # fmt: skip
            arns[workflow] = f"arn:aws:states:us-east-1:123456789012:stateMachine:aws-{workflow}"

        params = {"seed": 7, "as_of": "2026-06-30"}
        started = sfn.start_execution(
            stateMachineArn=arns["data-generation"],
            name="gen",
            input=json.dumps({"loans": 300, **params}),
        )
        done = wait_for_execution(sfn, started["executionArn"], timeout=150)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"])["objects"] == 300

        run_input = {
            "workers": 1,
            "partitions": 1,
            "batch_size": 100,
            "paths": 50,
            "shocks_bp": [0, 200],
            **params,
        }
        started = sfn.start_execution(
            stateMachineArn=arns["data-processing"], name="proc", input=json.dumps(run_input)
        )
        done = wait_for_execution(sfn, started["executionArn"], timeout=150)
        assert done["status"] == "SUCCEEDED", done
        summary = json.loads(done["output"])
        assert summary["run"] == "proc"
        assert [s["shock_bp"] for s in summary["scenarios"]] == [0, 200]
        results = server.data_dir / "buckets" / "montemap-results" / "runs" / "proc"
        written = json.loads((results / "summary.json").read_text())
        assert written["objects"] == 300  # every loan object went through a worker
        assert written["loans"] == summary["loans"] > 0
        # a fresh client: the server's forked function pool keeps idle pooled
        # connections open, so a connection idle since create_service may hang
        with_new = server.client("ecs")
        try:
            service = with_new.describe_services(cluster="default", services=["montemap-workers"])
        finally:
            with_new.close()
        assert service["services"][0]["desiredCount"] == 0  # scaled back in

        collected = tmp_path / "collected"
        assert run_aws(
            "collect", started["executionArn"], "--endpoint", server.url,
            "--cluster", "default", "--service", "montemap-workers",
            "--data-dir", str(collected),
        ) == 0  # fmt: skip
        record = json.loads((collected / "runs" / "proc" / "run.json").read_text())
        shown = figures(record)  # what montemap compare shows
        assert shown["status"] == "SUCCEEDED" and shown["loans"] == summary["loans"]
        assert shown["workers"] == 1 and shown["task_definition"] == "small"
        assert record["cost"]["tasks"] == 1 and record["cost"]["usd"] > 0
    finally:
        sfn.close()
        ecs.close()

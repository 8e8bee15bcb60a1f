"""The loan worker: polls the activity, simulates each loan of a batch, writes its result.

Written as for AWS Fargate: plain boto3 for Step Functions and S3, the
activity from ``ACTIVITY_ARN``, the worker's name from ``HOSTNAME`` and no
endpoint anywhere (the environment gives it). Each batch is the Distributed
Map's ``{"Items": [{"Bucket", "Key"}...], "BatchInput": {"ResultsBucket",
"ResultsPrefix"}}``; each loan is read with one GetObject and its result
written with one PutObject (``<prefix><loan id>.json``).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
from typing import Any

import boto3
from botocore.config import Config

#: Scenario: the Federal Reserve raises rates by this much.
RATE_SHOCK = 0.0175
SCENARIOS = 64
running = True


def stop(signum: int, frame: Any) -> None:
    global running
    running = False


def simulate(loan: dict[str, Any]) -> dict[str, Any]:
    """A trivial Monte Carlo: how often the loan defaults under the rate shock."""
    rng = random.Random(loan["loan_id"])
    stress = (loan["rate"] + RATE_SHOCK) * loan["debt_to_income"] * 10
    quality = (loan["credit_score"] - 500) / 350
    defaults = 0
    for _ in range(SCENARIOS):
        shock = rng.gauss(0.0, 0.35)
        if stress - quality + shock > 0.25:
            defaults += 1
    probability = defaults / SCENARIOS
    return {
        "loan_id": loan["loan_id"],
        "default_probability": probability,
        "expected_loss": round(loan["principal"] * probability * 0.45, 2),
        "defaults": probability >= 0.5,
        "log_odds": round(math.log((defaults + 1) / (SCENARIOS - defaults + 1)), 4),
    }


def process(s3: Any, batch: dict[str, Any]) -> dict[str, Any]:
    settings = batch.get("BatchInput") or {}
    bucket, prefix = settings["ResultsBucket"], settings.get("ResultsPrefix", "results/")
    defaults = 0
    for item in batch["Items"]:
        body = s3.get_object(Bucket=item["Bucket"], Key=item["Key"])["Body"].read()
        result = simulate(json.loads(body))
        defaults += result["defaults"]
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}{result['loan_id']}.json",
            Body=json.dumps(result).encode(),
            ContentType="application/json",
        )
    return {"loans": len(batch["Items"]), "defaults": defaults}


def main() -> int:
    signal.signal(signal.SIGTERM, stop)
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=70)
    sfn = boto3.client("stepfunctions", config=config)
    s3 = boto3.client("s3", config=config)
    activity = os.environ["ACTIVITY_ARN"]
    while running:
        task = sfn.get_activity_task(activityArn=activity, workerName=os.environ["HOSTNAME"])
        token = task.get("taskToken")
        if not token:
            continue
        try:
            output = process(s3, json.loads(task["input"]))
        except Exception as exc:  # report it: the state machine's Retry decides
            sfn.send_task_failure(taskToken=token, error=type(exc).__name__, cause=str(exc)[:32000])
            continue
        sfn.send_task_success(taskToken=token, output=json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

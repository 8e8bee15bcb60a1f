"""A function that invokes another one synchronously lends it its own place among the
invocations that may run at once (8): as many callers as places, each waiting on a call,
never wait for each other until their timeouts, as on Lambda (whose account limit is far
above such a fan-out)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create

CALLER = """
import json
import boto3

client = boto3.client("lambda")

def handler(event, context):
    answer = client.invoke(FunctionName="nested-leaf", Payload=json.dumps(event).encode())
    return {"leaf": json.loads(answer["Payload"].read()), "error": answer.get("FunctionError")}
"""


def test_callers_waiting_on_calls_do_not_starve_them(
    lambda_server: MontemapServer, lambda_client: Any
) -> None:
    create(lambda_client, "nested-caller", {"index.py": CALLER}, Timeout=20)
    create(lambda_client, "nested-leaf", {"index.py": "def handler(e, c):\n    return e['n']\n"})
    callers = 10  # more than the invocations that may run at once
    client = lambda_server.client("lambda", max_pool_connections=callers)
    try:

        def call(n: int) -> Any:
            response = client.invoke(FunctionName="nested-caller", Payload=json.dumps({"n": n}))
            return json.loads(response["Payload"].read())

        with ThreadPoolExecutor(callers) as pool:
            results = list(pool.map(call, range(callers)))
    finally:
        client.close()
    assert results == [{"leaf": n, "error": None} for n in range(callers)]

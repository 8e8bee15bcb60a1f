"""Invoke outcomes as Lambda reports them: signals, oversized results, Decimal results,
and new code arriving while an invocation runs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambda_api.helpers import create, eventually, package

HANDLER = {
    "index.py": """
    import decimal, os, signal, sys
    def handler(event, context):
        mode = event["mode"]
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "exit0":
            sys.exit(0)
        if mode == "exit3":
            sys.exit(3)
        if mode == "big":
            return "x" * (6 * 1024 * 1024 + 200)
        if mode == "almost":
            return "x" * (6 * 1024 * 1024)
        if mode == "decimal":
            return {"price": decimal.Decimal("12.5"), "count": decimal.Decimal("3")}
        return {1, 2}
    """,
}


def _invoke(client: Any, name: str, mode: str) -> tuple[dict[str, Any] | str, str | None]:
    response = client.invoke(FunctionName=name, Payload=json.dumps({"mode": mode}).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_exit_errors_are_worded_as_lambda_words_them(lambda_client: Any) -> None:
    create(lambda_client, "t-exits", HANDLER)
    killed, error = _invoke(lambda_client, "t-exits", "kill")
    assert error == "Unhandled"
    assert isinstance(killed, dict) and killed["errorType"] == "Runtime.ExitError"
    assert killed["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    status, _ = _invoke(lambda_client, "t-exits", "exit3")
    assert isinstance(status, dict)
    assert status["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    quiet, _ = _invoke(lambda_client, "t-exits", "exit0")
    assert isinstance(quiet, dict)
    assert quiet["errorMessage"].endswith("Error: Runtime exited without providing a reason")


def test_a_result_over_6_mb_is_a_function_error(lambda_client: Any) -> None:
    create(lambda_client, "t-big", HANDLER, MemorySize=1024)
    document, error = _invoke(lambda_client, "t-big", "big")
    assert error == "Unhandled"
    assert document == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    fits, error = _invoke(lambda_client, "t-big", "almost")  # 6 MB and its quotes: fits
    assert error is None and isinstance(fits, str) and len(fits) == 6 * 1024 * 1024


def test_decimal_results_are_json_numbers_and_sets_are_not(lambda_client: Any) -> None:
    create(lambda_client, "t-decimal", HANDLER)
    document, error = _invoke(lambda_client, "t-decimal", "decimal")
    assert error is None
    assert document == {"price": 12.5, "count": 3}
    refused, error = _invoke(lambda_client, "t-decimal", "set")
    assert error == "Unhandled" and isinstance(refused, dict)
    assert refused["errorType"] == "Runtime.MarshalError"
    assert refused["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


def test_new_code_does_not_change_an_invocation_already_running(
    lambda_client: Any, lambda_server: Any, tmp_path: Path
) -> None:
    old = {
        "index.py": """
        import pathlib, time
        def handler(event, context):
            pathlib.Path(event["started"]).touch()
            time.sleep(3)  # meanwhile, new code is uploaded
            import helper  # imported late, from the code the invocation started with
            with open("data.txt") as f:
                return [helper.WHO, f.read()]
        """,
        "helper.py": "WHO = 'old'\n",
        "data.txt": "old data",
    }
    create(lambda_client, "t-swap", old, Timeout=20)
    running: dict[str, Any] = {}
    started = tmp_path / "started"
    event = json.dumps({"started": str(started)}).encode()
    call = threading.Thread(
        target=lambda: running.update(lambda_client.invoke(FunctionName="t-swap", Payload=event))
    )
    call.start()
    eventually(lambda: True if started.exists() else None, timeout=30)
    new = {"index.py": "def handler(event, context):\n    return 'new'\n"}
    lambda_client.update_function_code(FunctionName="t-swap", ZipFile=package(new))
    assert json.loads(lambda_client.invoke(FunctionName="t-swap")["Payload"].read()) == "new"
    call.join()
    assert running.get("FunctionError") is None
    assert json.loads(running["Payload"].read()) == ["old", "old data"]
    # the replaced code is removed once nothing runs it
    folder = lambda_server.data_dir / "lambda" / "t-swap"
    generations = [p for p in folder.iterdir() if p.name.startswith("$LATEST@")]
    assert len(generations) == 1
    assert (folder / "$LATEST").resolve() == generations[0]


def test_the_report_line_has_lambdas_fields(lambda_client: Any) -> None:
    create(lambda_client, "t-report", HANDLER, MemorySize=256)
    response = lambda_client.invoke(
        FunctionName="t-report", Payload=b'{"mode": "decimal"}', LogType="Tail"
    )
    tail = base64.b64decode(response["LogResult"]).decode()
    report = next(line for line in tail.splitlines() if line.startswith("REPORT RequestId: "))
    fields = dict(field.split(": ", 1) for field in report.split("\t")[1:] if field)
    assert set(fields) >= {"Duration", "Billed Duration", "Memory Size"}
    assert fields["Memory Size"] == "256 MB"
    duration, billed = float(fields["Duration"][:-3]), int(fields["Billed Duration"][:-3])
    assert duration <= billed < duration + 1


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_function_printing_a_lot_is_logged_without_the_server_holding_it(
    lambda_client: Any, lambda_server: Any
) -> None:
    loud = {
        "index.py": """
        import sys
        def handler(event, context):
            line = "x" * 1023 + "\\n"
            for _ in range(event["mib"] * 1024):
                sys.stdout.write(line)
            print("the last line")
            return "printed"
        """,
    }
    create(lambda_client, "t-loud", loud, Timeout=120, MemorySize=1024)
    before = _peak_rss_mib(lambda_server.proc.pid)
    response = lambda_client.invoke(FunctionName="t-loud", Payload=b'{"mib": 96}', LogType="Tail")
    assert json.loads(response["Payload"].read()) == "printed"
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096
    assert b"the last line\nEND RequestId: " in tail
    assert _peak_rss_mib(lambda_server.proc.pid) - before < 48  # not 96 MiB of log, or more
    log = lambda_server.data_dir / "logs" / "lambda" / "t-loud.log"
    assert log.stat().st_size > 96 * 1024 * 1024
    with open(log, "rb") as f:
        assert f.read(16) == b"START RequestId:"


def test_client_context_reaches_the_handler(lambda_client: Any) -> None:
    show = {
        "index.py": """
        def handler(event, context):
            c = context.client_context
            if c is None:
                return None
            return {"custom": c.custom, "env": c.env, "app": c.client and c.client.app_title}
        """,
    }
    create(lambda_client, "t-client-context", show)
    sent = {"custom": {"tenant": "a"}, "env": {"locale": "fr"}, "client": {"app_title": "t"}}
    encoded = base64.b64encode(json.dumps(sent).encode()).decode()
    response = lambda_client.invoke(FunctionName="t-client-context", ClientContext=encoded)
    assert json.loads(response["Payload"].read()) == {
        "custom": {"tenant": "a"},
        "env": {"locale": "fr"},
        "app": "t",
    }
    response = lambda_client.invoke(FunctionName="t-client-context")
    assert json.loads(response["Payload"].read()) is None
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName="t-client-context", ClientContext="bm90IGpzb24=")
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestContentException"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_client_context_reaches_a_node_handler(lambda_client: Any) -> None:
    show = {"index.js": "exports.handler = async (e, context) => context.clientContext || null;"}
    create(lambda_client, "t-client-context-js", show, Runtime="nodejs20.x")
    encoded = base64.b64encode(b'{"custom": {"k": 1}}').decode()
    response = lambda_client.invoke(FunctionName="t-client-context-js", ClientContext=encoded)
    assert json.loads(response["Payload"].read()) == {"custom": {"k": 1}}


def test_python_logging_is_formatted_as_lambdas_runtime_formats_it(lambda_client: Any) -> None:
    logs = {
        "index.py": """
        import logging
        logging.basicConfig(format="%(message)s", level=logging.DEBUG)  # a no-op, as on Lambda
        logger = logging.getLogger()
        def handler(event, context):
            logger.info("not shown: the root level is WARNING")
            logger.warning("careful")
            logger.setLevel(logging.INFO)
            logging.getLogger("app").info("now shown")
            return context.aws_request_id
        """,
    }
    create(lambda_client, "t-logging", logs)
    response = lambda_client.invoke(FunctionName="t-logging", LogType="Tail")
    request_id = json.loads(response["Payload"].read())
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    records = [line.split("\t") for line in lines if line.startswith("[")]
    assert [(r[0], r[2], r[3]) for r in records] == [
        ("[WARNING]", request_id, "careful"),
        ("[INFO]", request_id, "now shown"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r[1]) for r in records)
    assert "not shown" not in "\n".join(lines)

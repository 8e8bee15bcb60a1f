"""``montemap run --server URL`` against a server that answers what montemap does not
expect: one line naming the server and the call it refused, never a bug report; and a
failed execution's cause shown by its message, not a page of stack trace."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.workflows.run_results import cause_text, print_result

pytestmark = pytest.mark.timeout(120)


def _run_against(url: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    command = ["run", "--server", url, "--data-dir", str(data), "--loans", "10", "--quiet"]
    return subprocess.run(
        [sys.executable, "-m", "montemap.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


class _NotStepFunctions(BaseHTTPRequestHandler):
    """A web server that serves pages and refuses POST, as many do."""

    def do_POST(self) -> None:
        self.send_response(501)
        body = b"<!DOCTYPE html>\n<html><body><h1>Unsupported method</h1></body></html>\n"
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotStepFunctions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_montemap_is_one_line(web_server: str, tmp_path: Path) -> None:
    done = _run_against(web_server, tmp_path / "data")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "this is a bug" not in done.stderr
    assert done.stderr.startswith(
        f"montemap: error: the server at {web_server} refused CreateActivity (HTTP 501"
    )
    assert "is this a montemap server?" in done.stderr and "<html" not in done.stderr


def test_a_server_refusing_the_credentials_is_one_line(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    keys = tmp_path / "credentials.yaml"
    keys.write_text("- access_key_id: OTHERKEY\n  secret_access_key: s3cr3t-s3cr3t-s3cr3t\n")
    keys.chmod(stat.S_IRUSR | stat.S_IWUSR)
    server = server_factory(extra_args=["--credentials", str(keys)])
    done = _run_against(server.url, tmp_path / "data")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "this is a bug" not in done.stderr
    assert "refused CreateActivity (HTTP 400, UnrecognizedClientException)" in done.stderr


def test_a_functions_error_document_shows_its_message() -> None:
    cause = json.dumps(
        {
            "errorMessage": "bucket 'montemap-source' does not exist",
            "errorType": "ObjectStoreError",
            "stackTrace": ['  File "x.py", line 1, in f\n    g()\n'],
        }
    )
    assert cause_text(cause) == "bucket 'montemap-source' does not exist"
    assert cause_text("States.Timeout after\n 30 s") == "States.Timeout after 30 s"
    assert cause_text(None) == ""
    assert cause_text('["not", "a document"]') == '["not", "a document"]'


def test_a_failed_run_prints_its_cause_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "name": "run-x",
        "status": "FAILED",
        "duration_seconds": 0.8,
        "error": "ObjectStoreError",
        "cause": json.dumps(
            {"errorMessage": "no bucket", "errorType": "ObjectStoreError", "stackTrace": ["a"]}
        ),
    }
    print_result(record, tmp_path / "run-x")
    assert capsys.readouterr().out == (
        "\nrun-x: FAILED in 0.8 s\n"
        "  error: ObjectStoreError: no bucket\n"
        f"  details: {tmp_path / 'run-x' / 'run.json'}\n"
    )

"""``montemap deploy`` refusals a user can act on: one line that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap

pytestmark = pytest.mark.timeout(60)

FAILING = """
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionString: '{"StartAt": "X", "States": {"X": {"Type": "Nope"}}}'
      RoleArn: arn:aws:iam::123456789012:role/r
"""


def test_a_stack_whose_creation_failed_says_to_delete_it(
    montemap_server: MontemapServer, tmp_path: Path
) -> None:
    template = tmp_path / "broken.yaml"
    template.write_text(FAILING)
    first = run_montemap("deploy", str(template), "--endpoint-url", montemap_server.url)
    assert first.returncode == 1 and "stack broken ended ROLLBACK_COMPLETE" in first.stderr
    again = run_montemap("deploy", str(template), "--endpoint-url", montemap_server.url)
    assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
    assert "is in ROLLBACK_COMPLETE state and can not be updated" in again.stderr
    assert "delete it (aws cloudformation delete-stack --stack-name broken)" in again.stderr


def test_a_file_name_that_is_no_stack_name_asks_for_one(tmp_path: Path) -> None:
    template = tmp_path / "stack.v2.yaml"
    template.write_text(FAILING)
    done = run_montemap("deploy", str(template), "--endpoint-url", "http://127.0.0.1:1")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "file name 'stack.v2' is not a stack name" in done.stderr
    assert "--stack-name" in done.stderr


def test_an_endpoint_that_is_no_url_is_one_line(tmp_path: Path) -> None:
    template = tmp_path / "stack.yaml"
    template.write_text(FAILING)
    done = run_montemap("deploy", str(template), "--endpoint-url", "127.0.0.1:8083")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "this is a bug" not in done.stderr
    assert "must be the server's http:// or https:// URL" in done.stderr

"""A function configuration stored before lone surrogates were refused (a handler or an
environment variable holding ``\\ud800``, written into the server's SQLite here): Invoke
ends in a function error naming the field (``Runtime.InvalidConfiguration``), never a
500; GetFunction answers the value JSON-escaped; an update of the field runs it again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import MontemapServer
from tests.lambda_api.helpers import create

CODE = {"index.py": "import os\ndef handler(event, context):\n    return os.environ.get('AB')\n"}


def _store(data_dir: Path, field: str, value: Any) -> None:
    with sqlite3.connect(data_dir / "montemap.db") as db:
        row = db.execute(
            "SELECT config FROM lambda_functions WHERE name = 'stored' AND version = '$LATEST'"
        ).fetchone()
        config = json.loads(row[0])
        config[field] = value
        db.execute(
            "UPDATE lambda_functions SET config = ? WHERE name = 'stored'", (json.dumps(config),)
        )
    db.close()


@pytest.mark.parametrize(
    ("field", "value", "named", "fixed"),
    [
        ("Handler", "index.\ud800", "'handler'", {"Handler": "index.handler"}),
        (
            "Environment",
            {"Variables": {"AB": "x\ud800"}},
            "'environment.variables'",
            {"Environment": {"Variables": {"AB": "ok"}}},
        ),
    ],
)
def test_a_stored_lone_surrogate_is_a_function_error_not_a_500(
    tmp_path: Path, field: str, value: Any, named: str, fixed: dict[str, Any]
) -> None:
    data_dir = tmp_path / "data"
    server = MontemapServer(data_dir)
    server.start()
    try:
        create(server.client("lambda"), "stored", CODE, Environment={"Variables": {"AB": "ok"}})
    finally:
        server.close()
    _store(data_dir, field, value)
    server = MontemapServer(data_dir)
    server.start()
    try:
        lam = server.client("lambda")
        shown = lam.get_function(FunctionName="stored")["Configuration"][field]
        assert shown == value  # JSON carries it escaped; the client decodes it as stored
        answer = lam.invoke(FunctionName="stored", Payload=b"{}")
        assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
        error = json.loads(answer["Payload"].read())
        assert error["errorType"] == "Runtime.InvalidConfiguration"
        assert named in error["errorMessage"] and "lone surrogate" in error["errorMessage"]
        lam.update_function_configuration(FunctionName="stored", **fixed)
        lam.get_waiter("function_updated_v2").wait(FunctionName="stored")
        answer = lam.invoke(FunctionName="stored", Payload=b"{}")
        assert "FunctionError" not in answer and answer["Payload"].read() == b'"ok"'
    finally:
        server.close()

"""A forged ``token`` on the console's execution lists is a 400, not an internal error.

The lists page with the engine's ``nextToken``; one that decodes to a position past
SQLite's integers (``{"after": 10**30}``) made the query raise ``OverflowError``:
500 "Internal error in the console" on the home page, a state machine's page and
``/console/api/executions``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.console.helpers import Http


@pytest.mark.parametrize("after", [10**30, -(10**30), 2**63])
def test_a_forged_list_token_is_refused(http: Http, sfn: Any, after: int) -> None:
    token = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()
    for path in ("/console/", "/console/api/executions"):
        reply = http.get(path, token=token)
        assert reply.status == 400, (path, reply.body)
        assert "InvalidToken" in reply.body
        assert "Internal error" not in reply.body

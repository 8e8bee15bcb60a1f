"""Helpers for the console tests: a small HTTP client with a cookie jar, and jobs."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-console"

#: The "small job": a Pass, a Wait of 1 s, an inline Map and a Distributed Map.
SMALL_JOB = {
    "Comment": "console test job",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"items": [1, 2, 3, 4, 5]}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Inline"},
        "Inline": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ResultPath": "$.inline",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Double",
                "States": {"Double": {"Type": "Pass", "End": True}},
            },
            "Next": "Distributed",
        },
        "Distributed": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ResultPath": "$.batches",
            "ItemBatcher": {"MaxItemsPerBatch": 2},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Work",
                "States": {"Work": {"Type": "Pass", "End": True}},
            },
            "End": True,
        },
    },
}

#: A job that waits long enough to be stopped.
SLOW_JOB = {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 120, "End": True}}}

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def hostile_job(name: str = HOSTILE) -> dict[str, Any]:
    """A job whose state name, error and cause are markup."""
    return {
        "StartAt": name,
        "States": {
            name: {"Type": "Pass", "Next": "Boom"},
            "Boom": {"Type": "Fail", "Error": HOSTILE, "Cause": HOSTILE},
        },
    }


@dataclass
class Reply:
    """A response; header names in lower case."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Http:
    """Talks to a console like a browser would: keeps cookies, follows no redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            _NoRedirect(),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(req, timeout=10) as response:
                return Reply(response.status, _lower(response.headers), response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, _lower(exc.headers), exc.read().decode())

    def get(self, path: str, **query: str) -> Reply:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self.request("GET", path)

    def token(self) -> str:
        """The CSRF token of this session (the cookie the console set)."""
        if not any(c.name == "montemap_console_csrf" for c in self.cookies):
            self.get("/console/")
        return next(c.value for c in self.cookies if c.name == "montemap_console_csrf") or ""

    def post(
        self,
        path: str,
        form: dict[str, str],
        *,
        origin: str | None = "self",
        token: str | None = "session",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        fields = dict(form)
        if token == "session":
            fields["csrf_token"] = self.token()
        elif token is not None:
            fields["csrf_token"] = token
        sent = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin == "self":
            sent["Origin"] = self.base
        elif origin is not None:
            sent["Origin"] = origin
        sent.update(headers or {})
        return self.request(
            "POST", path, data=urllib.parse.urlencode(fields).encode(), headers=sent
        )


#: A machine whose inline Map passes each of ``$.items``: a long history from a short input.
INLINE_MAP: dict[str, Any] = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Step",
                "States": {"Step": {"Type": "Pass", "End": True}},
            },
            "End": True,
        }
    },
}


def create_machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    return arn


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def text_of(html: str) -> str:
    """Visible-ish text of a page (tags dropped), for "shown as text" checks."""
    return re.sub(r"<[^>]+>", " ", html)

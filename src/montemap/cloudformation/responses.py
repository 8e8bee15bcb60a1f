"""Where custom resources answer: response URLs served on the server's own port.

Each custom-resource request gets a ``ResponseURL`` that looks like a
presigned URL for the ``cloudformation`` service, so the server's router
hands the function's ``PUT`` to this service; the random token in its path
is what authorises the answer (as a presigned URL's signature does).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

#: Path prefix of response URLs.
PREFIX = "/cloudformation-response/"
#: Largest response document accepted (CloudFormation's limit is 4 KB of data).
MAX_RESPONSE = 64 * 1024


class Responses:
    """Pending custom-resource requests, by token."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """A fresh response URL and the future its answer completes."""
        token = secrets.token_urlsafe(24)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        day = time.strftime("%Y%m%d", time.gmtime())
        credential = f"montemap%2F{day}%2F{self.region}%2Fcloudformation%2Faws4_request"
        url = (
            f"{self.endpoint}{PREFIX}{token}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={credential}&X-Amz-Signature={secrets.token_hex(32)}"
        )
        return url, future

    def forget(self, url: str) -> None:
        token = url.split(PREFIX, 1)[-1].split("?", 1)[0]
        self._waiting.pop(token, None)

    def answer(self, token: str, body: bytes) -> str | None:
        """Complete the request ``token`` names with ``body``; an error message, or None if taken."""
        future = self._waiting.get(token)
        if future is None:
            return "no custom resource is waiting for this response (unknown or expired URL)"
        if len(body) > MAX_RESPONSE:
            return f"the response is larger than {MAX_RESPONSE} bytes"
        try:
            document = json.loads(body)
        except ValueError as exc:
            return f"the response is not JSON: {exc}"
        if not isinstance(document, dict) or document.get("Status") not in ("SUCCESS", "FAILED"):
            return "the response needs Status SUCCESS or FAILED"
        if not future.done():
            future.set_result(document)
        return None

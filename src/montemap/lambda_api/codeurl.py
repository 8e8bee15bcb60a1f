"""``Code.Location`` of GetFunction: a presigned-style URL on the server's own port.

On AWS, GetFunction answers a presigned S3 URL, valid for ten minutes, from
which the deployment package can be downloaded (``aws lambda get-function``
then ``curl``). Here the URL points at the server itself
(``/2015-03-31/functions/<name>/versions/<version>/package.zip``) and carries
an expiry and an HMAC-SHA256 signature made with a secret the server draws at
start: whoever holds the URL may download that one zip until it expires, with
no other credentials, as with S3's presigned URLs. A restarted server draws a
new secret, so its earlier URLs stop working (call GetFunction again).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from urllib.parse import quote

from montemap.lambda_api.errors import LambdaError

#: How long a URL works (Lambda's: ten minutes).
URL_SECONDS = 600
EXPIRES = "X-Montemap-Expires"
SIGNATURE = "X-Montemap-Signature"
#: The download path (the function name and version are URL-encoded).
PATH_RE = re.compile(
    r"^/2015-03-31/functions/(?P<fn>[^/]+)/versions/(?P<version>[^/]+)/package\.zip$"
)


class CodeUrls:
    """Makes and checks the download URLs of one server."""

    def __init__(self, endpoint: str, *, secret: bytes | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._secret = secret if secret is not None else os.urandom(32)

    def _sign(self, name: str, version: str, expires: int) -> str:
        message = f"{name}\n{version}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, name: str, version: str, *, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + URL_SECONDS
        path = f"/2015-03-31/functions/{quote(name, safe='')}/versions/{quote(version, safe='')}"
        signature = self._sign(name, version, expires)
        return f"{self.endpoint}{path}/package.zip?{EXPIRES}={expires}&{SIGNATURE}={signature}"

    def check(
        self,
        name: str,
        version: str,
        expires: str | None,
        signature: str | None,
        *,
        now: float | None = None,
    ) -> None:
        """Accept a download, or raise ``AccessDeniedException`` (403) saying why."""
        if not expires or not signature or not expires.isdigit():
            raise _denied("the URL has no valid signature: call GetFunction for a new one")
        expected = self._sign(name, version, int(expires))
        if not hmac.compare_digest(expected, signature):
            raise _denied("the URL's signature does not match (or the server restarted)")
        if int(expires) < (now if now is not None else time.time()):
            raise _denied("the URL has expired: call GetFunction for a new one")


def _denied(why: str) -> LambdaError:
    return LambdaError("AccessDeniedException", f"Code download refused: {why}", status=403)

"""The keys montemap's clients sign with where the user has none, and what to say
when a server refuses a key.

Shared by ``montemap worker`` (:mod:`montemap.worker.sfn_config`) and the commands
that talk to a server (:mod:`montemap.workflows.signing`: ``run --server``,
``deploy``), so that all of them sign as the AWS CLI does (the user's AWS
credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_PROFILE`` and the shared files...), else with the built-in pair below,
which a keyless loopback server accepts (it accepts any key), and explain a
refusal the same way: in one line, with the key that was used, where it came
from, and what to set. Imports nothing: the worker loads it before its handler.
"""

from __future__ import annotations

import os

#: The pair montemap signs with where the user has no AWS credentials.
BUILTIN_ACCESS_KEY_ID = "montemap"
BUILTIN_SECRET_ACCESS_KEY = "montemap-local-secret"
#: The error codes of a server that does not accept a request's signature or key
#: (JSON protocols, the query protocol, S3).
AUTH_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
#: What a user sets to sign with a key the server accepts.
WHAT_TO_SET = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, a profile holding "
    "them) to a key the server accepts (its --credentials file or MONTEMAP_ACCESS_KEY_ID)"
)
#: The codes of a known key signed with another secret.
WRONG_SECRET_CODES = frozenset({"InvalidSignatureException", "SignatureDoesNotMatch"})
#: botocore's names (``Credentials.method``) of keys read from the shared files.
_FROM_PROFILE = frozenset({"shared-credentials-file", "config-file"})
#: Where keys botocore found came from, by its ``Credentials.method``.
_SOURCES = {
    "env": "AWS_ACCESS_KEY_ID",
    "container-role": "the container's role",
    "iam-role": "the instance's role",
    "sso": "AWS IAM Identity Center (SSO)",
    "assume-role": "an assumed role",
    "custom-process": "the profile's credential_process",
}


def describe(key_id: str, method: str = "") -> str:
    """Who signs, for a message: the access key id and where it came from (``method``:
    botocore's name for the provider that found it, or ``"builtin"``)."""
    if method == "builtin" or (key_id == BUILTIN_ACCESS_KEY_ID and method in ("", "explicit")):
        return f"montemap's built-in key '{key_id}' (no AWS credentials are set)"
    if method in _FROM_PROFILE:
        profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
        return f"the access key id '{key_id}' (from the profile {profile or 'default'})"
    source = _SOURCES.get(method)
    return f"the access key id '{key_id}'" + (f" (from {source})" if source else "")


def refusal(code: str, signer: str, server: str = "it") -> str | None:
    """What to do where ``server`` answered ``code`` to a request ``signer`` (see
    :func:`describe`) signed: None unless ``code`` says it refused the signature or key."""
    if code not in AUTH_ERROR_CODES:
        return None
    if code in WRONG_SECRET_CODES:
        return f"the signature with {signer} does not match (a wrong secret): {WHAT_TO_SET}"
    return f"{server} does not accept {signer}: {WHAT_TO_SET}"

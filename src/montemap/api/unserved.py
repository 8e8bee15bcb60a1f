"""The answer to a request signed for an AWS service this server does not serve.

A user's code pointed at the one endpoint (``AWS_ENDPOINT_URL``) reaches it for every
service: a DynamoDB, SQS, SNS or EventBridge call must fail at once with an error the
client's SDK parses and that says what is missing, not a parse error, a bare 404 or
"Unknown operation ... the target must be 'AWSStepFunctions...'". The error is
``NotImplemented`` (HTTP 501, which the SDKs do not retry), written in the protocol
the request was made in: JSON for ``X-Amz-Target`` requests, the query protocol's XML
for form-encoded ones (EC2's own XML for ``ec2``), and for REST services the format
their botocore model gives (XML for ``rest-xml``, else JSON with ``x-amzn-ErrorType``).
"""

from __future__ import annotations

import functools
import json
from xml.sax.saxutils import escape

import botocore.loaders
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from starlette.responses import Response
from starlette.types import Scope

from montemap.api import protocol

__all__ = ["SERVED", "unserved_response"]

#: The services this endpoint serves, as a sentence names them.
SERVED = "Step Functions, S3, Lambda, ECS, CloudFormation, IAM and STS"
CODE = "NotImplemented"
STATUS = 501
#: SigV4 signing names whose botocore model has another name.
_MODEL_NAMES = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "bedrock": "bedrock-runtime",
    "execute-api": "apigateway",
}


@functools.lru_cache(maxsize=64)
def _model_facts(signing_name: str) -> tuple[str, str | None]:
    """(full name, protocol) of the service signed for, from botocore's model when it has
    one under that name; else (the signing name, None)."""
    loader = botocore.loaders.create_loader()  # not a session: it would read AWS_PROFILE
    try:
        model = loader.load_service_model(_MODEL_NAMES.get(signing_name, signing_name), "service-2")
    except (UnknownServiceError, DataNotFoundError, ValueError):
        return signing_name, None
    metadata = model.get("metadata", {})
    return str(metadata.get("serviceFullName") or signing_name), metadata.get("protocol")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def message(signing_name: str) -> str:
    full_name, _ = _model_facts(signing_name)
    return (
        f"montemap does not serve {full_name} (requests signed for '{signing_name}'): this"
        f" endpoint serves {SERVED}. Point this client at the real service, or replace the"
        " call (docs/bring-your-own.md)."
    )


def unserved_response(scope: Scope, signing_name: str) -> Response:
    """The ``NotImplemented`` answer to ``scope``, in the protocol it was made in."""
    text = message(signing_name)
    request_id = protocol.new_request_id()
    headers = {"x-amzn-RequestId": request_id}
    content_type = _header(scope, b"content-type").lower()
    if _header(scope, b"x-amz-target"):
        body = json.dumps({"__type": CODE, "message": text})
        return Response(body, STATUS, headers, content_type or "application/x-amz-json-1.0")
    _, model_protocol = _model_facts(signing_name)
    if signing_name == "ec2" or model_protocol == "ec2":
        xml = (
            f"<Response><Errors><Error><Code>{CODE}</Code><Message>{escape(text)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return Response(xml, STATUS, headers, "text/xml")
    if content_type.startswith("application/x-www-form-urlencoded") or model_protocol in (
        "query",
        "rest-xml",
    ):
        xml = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{CODE}</Code>"
            f"<Message>{escape(text)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(xml, STATUS, headers, "text/xml")
    headers["x-amzn-ErrorType"] = CODE
    return Response(json.dumps({"message": text}), STATUS, headers, "application/json")

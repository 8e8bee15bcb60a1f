"""Deployment packages and clients for the Lambda API tests."""

from __future__ import annotations

import io
import textwrap
import time
import zipfile
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def package(files: dict[str, str]) -> bytes:
    """A zip of ``{name: source}`` (sources dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def create(client: Any, name: str, files: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    """CreateFunction with a Python package (handler ``index.handler`` unless given)."""
    options: dict[str, Any] = {
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/test",
        "Handler": "index.handler",
    }
    options.update(kwargs)
    result: dict[str, Any] = client.create_function(
        FunctionName=name, Code={"ZipFile": package(files)}, **options
    )
    return result


def eventually(check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something other than None (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)

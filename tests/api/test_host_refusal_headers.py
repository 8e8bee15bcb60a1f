"""Every refusal of the Host/Origin policy is contained, whatever the path it answers.

A refused request may come from a page of another site (DNS rebinding, a
cross-site load): its answer must not be sniffed into a page, run anything,
be framed or be cached, whether the path is the console's, S3's or the API's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from montemap.api.app import create_app
from montemap.api.hosts import HostPolicy
from montemap.api.registry import Registry
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.storage import LocalObjectStore

OWN = "127.0.0.1:8083"


@pytest.fixture
def http(database: Database, registry: Registry, tmp_path: Path) -> TestClient:
    engine = Engine(database, arns=registry.arns, store=LocalObjectStore(tmp_path / "buckets"))
    app = create_app(engine=engine, registry=registry, hosts=HostPolicy("127.0.0.1"))
    return TestClient(app, raise_server_exceptions=False)  # no lifespan: nothing is served


REFUSED = [
    ("GET", "/console/", {"Host": "evil.example"}, 421),
    ("GET", "/bucket/key.html", {"Host": "evil.example:8083"}, 421),
    ("GET", "/health", {"Host": "evil.example"}, 421),
    ("POST", "/", {"Host": "evil.example", "X-Amz-Target": "AWSStepFunctions.ListActivities"}, 421),
    ("GET", "/console/", {"Host": OWN, "Origin": "http://evil.example"}, 403),
    ("GET", "/bucket/key.html", {"Host": OWN, "Origin": "null"}, 403),
    ("GET", "/bucket/key.js", {"Host": OWN, "Sec-Fetch-Site": "cross-site"}, 403),
    (
        "GET",
        "/console/",
        {"Host": OWN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "script"},
        403,
    ),
    (
        "POST",
        "/",
        {
            "Host": OWN,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://evil.example",
        },
        403,
    ),
]


@pytest.mark.parametrize(("method", "path", "headers", "status"), REFUSED)
def test_a_refusal_is_never_sniffed_framed_or_cached(
    http: TestClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = http.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"

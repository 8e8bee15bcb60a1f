"""An S3-compatible server on loopback for the tests (moto's server mode, real HTTP)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from montemap.storage import S3ObjectStore


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1 with dummy credentials in the environment."""
    empty = tmp_path_factory.mktemp("aws") / "none"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
            if server._server is not None:
                server._server.server_close()


def reset_moto(endpoint: str) -> None:
    """Forget every bucket the server holds."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def s3_store(moto_endpoint: str) -> Iterator[S3ObjectStore]:
    """A fresh S3 store on the moto server (emptied before each test)."""
    reset_moto(moto_endpoint)
    store = S3ObjectStore(endpoint_url=moto_endpoint, region_name="us-east-1")
    try:
        yield store
    finally:
        store.close()


__all__ = ["moto_endpoint", "reset_moto", "s3_store"]

"""The worker's client finds its endpoint, region and credentials as boto3 does.

boto3 itself is the oracle: for each configuration, the endpoint and region
of ``make_client`` must be those of ``boto3.client("stepfunctions")``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoCredentialsError, NoRegionError

from montemap.worker.client import StepFunctionsCalls, is_transient, make_client
from montemap.worker.errors import WorkerError
from montemap.worker.sfn_config import StaticCredentials, ca_bundle, resolve
from montemap.worker.sfn_http import EndpointError, SfnHttpClient

from .scripted_server import Reply, ScriptedServer, scripted, server_tls
from .test_sfn_http import AWS_VARIABLES


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (*AWS_VARIABLES, "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-secret-secret")
    return monkeypatch


def boto3_endpoint(region: str | None = None, endpoint_url: str | None = None) -> tuple[str, str]:
    client = boto3.session.Session().client(
        "stepfunctions", region_name=region, endpoint_url=endpoint_url
    )
    try:
        return client.meta.endpoint_url, client.meta.region_name
    finally:
        client.close()


def ours(region: str | None = None, endpoint_url: str | None = None) -> tuple[str, str]:
    client = make_client(region=region, endpoint_url=endpoint_url)
    client.close()
    assert isinstance(client, SfnHttpClient)  # no proxy here: the worker's own client
    return client.endpoint_url, client.region


@pytest.mark.parametrize(
    "region", ["eu-west-1", "us-east-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "xx-new-9"]
)
def test_regional_endpoints_match_boto3(env: pytest.MonkeyPatch, region: str) -> None:
    assert ours(region) == boto3_endpoint(region)


@pytest.mark.parametrize(
    "variables",
    [
        {"AWS_USE_FIPS_ENDPOINT": "true"},
        {"AWS_USE_DUALSTACK_ENDPOINT": "true"},
        {"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
    ],
)
def test_fips_and_dualstack_match_boto3(env: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    assert ours("us-west-2") == boto3_endpoint("us-west-2")


def test_configured_endpoints_in_boto3s_order(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = ap-south-1\nservices = local\n"
        "[services local]\nsfn =\n  endpoint_url = http://127.0.0.1:7001\n"
    )
    env.setenv("AWS_CONFIG_FILE", str(config))
    assert ours() == boto3_endpoint() == ("http://127.0.0.1:7001", "ap-south-1")
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7002")
    assert ours("eu-west-1") == boto3_endpoint("eu-west-1") == ("http://127.0.0.1:7002", "eu-west-1")  # fmt: skip
    env.setenv("AWS_ENDPOINT_URL_SFN", "http://127.0.0.1:7003")
    assert ours("eu-west-1")[0] == boto3_endpoint("eu-west-1")[0] == "http://127.0.0.1:7003"
    # the given endpoint wins over all of them
    assert ours("eu-west-1", "http://127.0.0.1:7004")[0] == "http://127.0.0.1:7004"
    env.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert ours("eu-west-1") == boto3_endpoint("eu-west-1")
    assert ours("eu-west-1")[0] == "https://states.eu-west-1.amazonaws.com"


def test_region_from_the_environment_or_the_config_file(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert ours() == boto3_endpoint()
    env.delenv("AWS_DEFAULT_REGION")
    config = tmp_path / "config"
    config.write_text("[default]\nregion = sa-east-1\n[profile other]\nregion = af-south-1\n")
    env.setenv("AWS_CONFIG_FILE", str(config))
    assert ours() == boto3_endpoint() == ("https://states.sa-east-1.amazonaws.com", "sa-east-1")
    env.setenv("AWS_PROFILE", "other")
    assert ours()[1] == boto3_endpoint()[1] == "af-south-1"


def test_no_region_anywhere_is_botocores_error(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoRegionError):
        make_client()


def test_environment_keys_need_no_botocore_session(env: pytest.MonkeyPatch) -> None:
    env.setenv("AWS_SESSION_TOKEN", "tok")
    resolved = resolve(endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    assert isinstance(resolved.credentials, StaticCredentials)
    assert resolved.credentials.get_frozen_credentials() == ("AKIDTEST", "secret-secret-secret", "tok")  # fmt: skip


def test_keys_from_a_credentials_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("AWS_ACCESS_KEY_ID")
    env.delenv("AWS_SECRET_ACCESS_KEY")
    path = tmp_path / "credentials"
    path.write_text("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n")
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    resolved = resolve(endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    assert resolved.credentials is not None
    frozen = resolved.credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == ("FILEKEY", "filesecret")


def test_no_credentials_sign_with_the_builtin_pair(env: pytest.MonkeyPatch) -> None:
    """As ``montemap run --server`` and ``deploy`` (a keyless loopback server accepts it)."""
    env.delenv("AWS_ACCESS_KEY_ID")
    env.delenv("AWS_SECRET_ACCESS_KEY")
    resolved = resolve(endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    assert resolved.credentials is not None
    frozen = resolved.credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == ("montemap", "montemap-local-secret")


def test_a_client_without_credentials_fails_its_call_not_its_start() -> None:
    client = SfnHttpClient(endpoint_url="http://127.0.0.1:1", region="eu-west-1", credentials=None)
    with pytest.raises(NoCredentialsError) as missing:
        client.get_activity_task(activityArn="a", workerName="w")
    assert not is_transient(missing.value)
    client.close()


@pytest.mark.parametrize("url", ["ftp://host/", "127.0.0.1:8083", "http://", "http://h:99999"])
def test_unusable_endpoints_are_worker_errors(url: str) -> None:
    with pytest.raises(EndpointError, match="endpoint") as refused:
        SfnHttpClient(endpoint_url=url, region="eu-west-1", credentials=None)
    assert isinstance(refused.value, WorkerError)


def test_an_endpoint_behind_a_proxy_gets_a_boto3_client(env: pytest.MonkeyPatch) -> None:
    """botocore speaks to HTTP proxies; the worker's own client does not, so it steps aside."""
    endpoint = "http://sfn.example.invalid:8083"
    with ScriptedServer().then(Reply(body=b"{}")) as proxy:
        env.setenv("HTTP_PROXY", proxy.url)
        client = make_client(region="eu-west-1", endpoint_url=endpoint)
        assert not isinstance(client, SfnHttpClient)
        client.send_task_heartbeat(taskToken="t")
        assert proxy.requests[0].path == endpoint + "/"  # absolute-form: sent to the proxy
        assert proxy.requests[0].headers["x-amz-target"] == "AWSStepFunctions.SendTaskHeartbeat"
        client.close()
        env.setenv("NO_PROXY", "sfn.example.invalid")
        direct = make_client(region="eu-west-1", endpoint_url=endpoint)
        assert isinstance(direct, SfnHttpClient)
        direct.close()


# ----------------------------------------------------------------------------- CA bundle


@pytest.fixture
def tls_env(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    env.delenv("AWS_CA_BUNDLE", raising=False)
    env.delenv("REQUESTS_CA_BUNDLE", raising=False)
    return env


def botocores_ca_bundle() -> str | None:
    """The CA bundle a boto3 client verifies HTTPS against (None: its default)."""
    client: Any = boto3.session.Session().client(
        "stepfunctions", region_name="eu-west-1", endpoint_url="https://127.0.0.1:1"
    )
    try:
        verify = client._endpoint.http_session._verify
    finally:
        client.close()
    return None if verify is True else str(verify)


CONFIG = "[default]\nca_bundle = /ca/config.pem\n[profile other]\nca_bundle = /ca/other.pem\n"


@pytest.mark.parametrize(
    ("variables", "config", "credentials", "expected"),
    [
        ({}, "", "", None),
        ({}, CONFIG, "", "/ca/config.pem"),
        ({"AWS_CA_BUNDLE": "/ca/env.pem"}, CONFIG, "", "/ca/env.pem"),
        ({"AWS_PROFILE": "other"}, CONFIG, "", "/ca/other.pem"),
        ({"REQUESTS_CA_BUNDLE": "/ca/requests.pem"}, "", "", "/ca/requests.pem"),
        ({"REQUESTS_CA_BUNDLE": "/ca/requests.pem"}, CONFIG, "", "/ca/config.pem"),
        ({}, "", "[default]\nca_bundle = /ca/credentials.pem\n", "/ca/credentials.pem"),
    ],
    ids=["none", "config", "env-wins", "profile", "requests", "config-wins", "credentials-file"],
)
def test_the_ca_bundle_is_botocores(
    tls_env: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    config: str,
    credentials: str,
    expected: str | None,
) -> None:
    for name, text in (("AWS_CONFIG_FILE", config), ("AWS_SHARED_CREDENTIALS_FILE", credentials)):
        if text:
            (tmp_path / name).write_text(text)
            tls_env.setenv(name, str(tmp_path / name))
    for name, value in variables.items():
        tls_env.setenv(name, value)
    assert ca_bundle() == botocores_ca_bundle() == expected


def test_https_trusts_the_config_files_ca_bundle(
    tls_env: pytest.MonkeyPatch, tmp_path: Path, certificate: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(f"[default]\nregion = eu-west-1\nca_bundle = {certificate}\n")
    tls_env.setenv("AWS_CONFIG_FILE", str(config))
    reply = Reply(body=b'{"a": 1}')
    with scripted(ours_at, reply, tls=server_tls(certificate)) as (server, client):
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
        assert server.requests[0].headers["x-amz-target"] == "AWSStepFunctions.SendTaskHeartbeat"


def ours_at(endpoint_url: str) -> StepFunctionsCalls:
    return make_client(endpoint_url=endpoint_url)

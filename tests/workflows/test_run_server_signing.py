"""``montemap run --server URL`` signs as the AWS CLI would (the environment's keys, else a
profile, else montemap's built-in pair); a server that refuses the key is one line that
says what to set. The embedded server is signed for with the built-in pair, whatever the
environment says."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap
from montemap.workflows.client import Clients

pytestmark = pytest.mark.timeout(60)

KEY_ID, SECRET = "RUNKEY", "run-secret-0123456789"


@pytest.fixture
def keyed_server(server_factory: Callable[..., MontemapServer], tmp_path: Path) -> MontemapServer:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"- access_key_id: {KEY_ID}\n  secret_access_key: {SECRET}\n")
    keys.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return server_factory(extra_args=["--credentials", str(keys)])


@pytest.fixture
def no_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process without the machine's AWS variables and files; the credentials file
    it reads instead (not written yet)."""
    import os

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path / "credentials"


def test_a_refused_key_names_what_to_set(keyed_server: MontemapServer, tmp_path: Path) -> None:
    done = run_montemap(
        "run", "--server", keyed_server.url, "--data-dir", str(tmp_path / "d"), "--quiet",
        env={"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "this is a bug" not in done.stderr, done.stderr
    assert "refused CreateActivity (HTTP 400, UnrecognizedClientException)" in done.stderr
    assert "montemap's built-in key 'montemap' (no AWS credentials are set)" in done.stderr
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE" in done.stderr


def test_the_server_clients_sign_with_a_profile(
    keyed_server: MontemapServer, no_aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_aws_files.write_text(
        f"[team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "team")
    clients = Clients.for_endpoint(keyed_server.url)
    assert clients.sfn.list_activities()["activities"] == []
    assert clients.ecs.list_clusters()["clusterArns"]


def test_an_embedded_server_is_signed_for_with_the_built_in_pair(
    montemap_server: MontemapServer, no_aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nowhere")  # would be refused for a --server
    clients = Clients.for_endpoint(montemap_server.url, own_server=True)
    assert clients.sfn.list_activities()["activities"] == []

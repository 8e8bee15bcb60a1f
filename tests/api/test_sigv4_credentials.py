"""Access keys configured on the server: files, environment, validation, wiring."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from montemap.api.credentials import (
    AccessKey,
    CredentialsError,
    CredentialStore,
    SigV4Authenticator,
    add_arguments,
    build_authenticator,
    expected_services,
    load_credentials,
    load_credentials_file,
)

SECRET_A = "aaaaaaaaaaaaaaaa-secret-A"
SECRET_B = "bbbbbbbbbbbbbbbb-secret-B"
GOOD = [
    {"access_key_id": "KEYA", "secret_access_key": SECRET_A},
    {"access_key_id": "KEYB", "secret_access_key": SECRET_B},
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_json_file(tmp_path: Path) -> None:
    keys = load_credentials_file(write(tmp_path, "keys.json", json.dumps(GOOD)))
    assert keys == [AccessKey("KEYA", SECRET_A), AccessKey("KEYB", SECRET_B)]


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix: str) -> None:
    text = (
        f"- access_key_id: KEYA\n  secret_access_key: {SECRET_A}\n"
        f"- access_key_id: KEYB\n  secret_access_key: '{SECRET_B}'\n"
    )
    keys = load_credentials_file(write(tmp_path, f"keys{suffix}", text))
    assert [key.access_key_id for key in keys] == ["KEYA", "KEYB"]


def entry(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"access_key_id": "KEYA", "secret_access_key": SECRET_A}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"access_key_id": "KEYA"}, "expected a list"),
        ([], "empty"),
        (["KEYA"], "entry 0: expected a mapping"),
        ([entry(access_key_id=None)], "entry 0: 'access_key_id' is missing"),
        ([entry(secret_access_key=None)], "entry 0: 'secret_access_key' is missing"),
        ([entry(), entry(secret_key="x")], "entry 1: unknown field(s) secret_key"),
        ([entry(access_key_id=12)], "'access_key_id' must be a string"),
        ([entry(access_key_id="bad/id")], "access_key_id 'bad/id' must be"),
        ([entry(access_key_id="")], "must be 1-128"),
        ([entry(secret_access_key=1234)], "'secret_access_key' must be a string"),
        ([entry(secret_access_key="short")], "has 5 characters; it must have 16"),
        ([entry(secret_access_key="has a space in it ok")], "without spaces"),
        ([entry(secret_access_key="tab\tinside-the-secret")], "printable ASCII"),
        ([entry(), entry()], "entry 1: access key id 'KEYA' is listed twice"),
    ],
)
def test_invalid_documents(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, "keys.json", json.dumps(document))
    with pytest.raises(CredentialsError) as info:
        load_credentials_file(path)
    text = str(info.value)
    assert text.startswith(f"credentials file {path}: ")
    assert message in text
    for secret in (SECRET_A, "short", "has a space in it ok", "tab\tinside-the-secret"):
        assert secret not in text


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("keys.json", '[{"access_key_id": ', "not valid JSON: Expecting value at line 1"),
        ("keys.yaml", "- access_key_id: [unclosed\n", "not valid YAML at line"),
        ("keys.json", "", "not valid JSON"),
        ("keys.yaml", "", "expected a list"),
    ],
)
def test_unparsable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match="credentials file") as info:
        load_credentials_file(write(tmp_path, name, text))
    assert message in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="no such file"):
        load_credentials_file(tmp_path / "absent.json")
    with pytest.raises(CredentialsError, match="is a directory"):
        load_credentials_file(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CredentialsError, match="not UTF-8"):
        load_credentials_file(binary)


def test_readable_by_others_warns_without_leaking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "keys.json", json.dumps(GOOD))
    path.chmod(0o644)
    with caplog.at_level(logging.DEBUG, logger="montemap.api.auth"):
        load_credentials_file(path)
    assert "accessible by other users" in caplog.text
    assert SECRET_A not in caplog.text


def test_environment() -> None:
    env = {"MONTEMAP_ACCESS_KEY_ID": "ENVKEY", "MONTEMAP_SECRET_ACCESS_KEY": SECRET_A}
    store = load_credentials(None, env)
    assert store.secret_for("ENVKEY") == SECRET_A
    assert len(load_credentials(None, {})) == 0
    empty = {"MONTEMAP_ACCESS_KEY_ID": "", "MONTEMAP_SECRET_ACCESS_KEY": ""}
    assert len(load_credentials(None, empty)) == 0
    with pytest.raises(CredentialsError, match="MONTEMAP_ACCESS_KEY_ID is set but"):
        load_credentials(None, {"MONTEMAP_ACCESS_KEY_ID": "ENVKEY"})
    with pytest.raises(CredentialsError, match="MONTEMAP_SECRET_ACCESS_KEY is set but"):
        load_credentials(None, {"MONTEMAP_SECRET_ACCESS_KEY": SECRET_A})
    with pytest.raises(CredentialsError, match=r"^environment: secret_access_key"):
        load_credentials(
            None, {"MONTEMAP_ACCESS_KEY_ID": "ENVKEY", "MONTEMAP_SECRET_ACCESS_KEY": "x"}
        )


def test_file_and_environment_combine(tmp_path: Path) -> None:
    path = write(tmp_path, "keys.json", json.dumps(GOOD))
    env = {"MONTEMAP_ACCESS_KEY_ID": "ENVKEY", "MONTEMAP_SECRET_ACCESS_KEY": SECRET_B}
    store = load_credentials(path, env)
    assert store.access_key_ids == ["ENVKEY", "KEYA", "KEYB"]
    same = {"MONTEMAP_ACCESS_KEY_ID": "KEYA", "MONTEMAP_SECRET_ACCESS_KEY": SECRET_A}
    assert len(load_credentials(path, same)) == 2
    clash = {"MONTEMAP_ACCESS_KEY_ID": "KEYA", "MONTEMAP_SECRET_ACCESS_KEY": SECRET_B}
    with pytest.raises(
        CredentialsError, match=r"'KEYA' is in credentials file .*keys.json and in \$MONTEMAP_"
    ) as info:
        load_credentials(path, clash)
    assert SECRET_A not in str(info.value) and SECRET_B not in str(info.value)


def test_reprs_hide_secrets() -> None:
    key = AccessKey("KEYA", SECRET_A)
    store = CredentialStore([key])
    authenticator = SigV4Authenticator(store, region="us-east-1")
    for text in (repr(key), repr(store), repr(authenticator), str(key)):
        assert SECRET_A not in text
    assert "KEYA" in repr(store)
    assert list(store) == ["KEYA"]


def test_authenticator_needs_keys() -> None:
    with pytest.raises(CredentialsError, match="at least one"):
        SigV4Authenticator(CredentialStore([]), region="us-east-1")


def test_expected_services() -> None:
    assert expected_services("AWSStepFunctions.ListActivities") == ("states",)
    assert expected_services("AmazonEC2ContainerServiceV20141113.UpdateService") == ("ecs",)
    assert set(expected_services(None)) == {"states", "ecs"}
    assert set(expected_services("Other.Thing")) == {"states", "ecs"}


def server_args(tmp_path: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--region", default="us-east-1")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_build_authenticator(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "keys.json", json.dumps(GOOD))
    assert build_authenticator(server_args(tmp_path), {}) is None
    with pytest.raises(CredentialsError, match="remote access requires credentials"):
        build_authenticator(server_args(tmp_path, "--host", "0.0.0.0"), {})
    with caplog.at_level(logging.INFO, logger="montemap.api.auth"):
        remote = build_authenticator(
            server_args(tmp_path, "--host", "0.0.0.0", "--credentials", str(path)), {}
        )
    assert isinstance(remote, SigV4Authenticator)
    assert remote.store.access_key_ids == ["KEYA", "KEYB"]
    assert "KEYA, KEYB" in caplog.text
    assert SECRET_A not in caplog.text and SECRET_B not in caplog.text
    env = {"MONTEMAP_ACCESS_KEY_ID": "ENVKEY", "MONTEMAP_SECRET_ACCESS_KEY": SECRET_A}
    local = build_authenticator(server_args(tmp_path, "--region", "eu-west-1"), env)
    assert isinstance(local, SigV4Authenticator)
    assert local.region == "eu-west-1"


def test_build_authenticator_reads_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "MONTEMAP_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setitem(os.environ, "MONTEMAP_SECRET_ACCESS_KEY", SECRET_A)
    authenticator = build_authenticator(server_args(tmp_path, "--host", "10.1.2.3"))
    assert authenticator is not None
    assert authenticator.store.access_key_ids == ["ENVKEY"]

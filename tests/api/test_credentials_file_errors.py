"""``montemap server --credentials`` refuses what it cannot use in one line naming the file
and the problem: a path it cannot read for any reason, an empty document, an empty
option (which ran the server without keys), a key id set in the file and the environment
with different secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.api.credentials import CredentialsError, load_credentials, load_credentials_file

SECRET = "file-secret-0123456789abcdef"


def test_an_unreadable_path_is_named_with_the_reason(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "back")
    (tmp_path / "back").symlink_to(loop)
    with pytest.raises(CredentialsError) as info:
        load_credentials_file(loop)
    assert str(info.value) == (
        f"credentials file {loop}: cannot be read: Too many levels of symbolic links"
    )
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("[]")
    with pytest.raises(CredentialsError, match=rf"^credentials file {not_a_dir}/keys: cannot be"):
        load_credentials_file(not_a_dir / "keys")


@pytest.mark.parametrize("name", ["keys.yaml", "keys.yml"])
def test_an_empty_yaml_file_is_called_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("# nothing yet\n")
    with pytest.raises(CredentialsError, match=rf"^credentials file {path}: is empty; expected"):
        load_credentials_file(path)


def test_a_key_id_in_the_file_and_the_environment_names_both(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"access_key_id": "SAME", "secret_access_key": SECRET}]))
    env = {"MONTEMAP_ACCESS_KEY_ID": "SAME", "MONTEMAP_SECRET_ACCESS_KEY": "other-" + SECRET}
    with pytest.raises(CredentialsError) as info:
        load_credentials(path, env)
    assert str(info.value) == (
        f"access key id 'SAME' is in credentials file {path} and in $MONTEMAP_ACCESS_KEY_ID "
        "with different secrets"
    )


def test_an_empty_credentials_option_does_not_start_a_server_without_keys(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONTEMAP_")}
    command = [sys.executable, "-m", "montemap.api.cli", "--credentials", ""]
    done = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "data"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "montemap: error: --credentials needs the name of a file (it was given an empty one)"
    )
    assert not (tmp_path / "data").exists()

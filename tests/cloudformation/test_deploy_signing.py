"""``montemap deploy --endpoint-url URL`` signs as the AWS CLI would: the environment's
keys, else a profile, else montemap's built-in pair (which a keyless loopback server
accepts); a server that refuses the key, a missing profile or a server that cannot be
reached is one line saying what to do, not a bug report."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap

pytestmark = pytest.mark.timeout(60)

KEY_ID, SECRET = "DEPLOYKEY", "deploy-secret-0123456789"
TEMPLATE = """
Resources:
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: signed-jobs}
Outputs:
  Jobs: {Value: !Ref Jobs}
"""


@pytest.fixture
def keyed_server(server_factory: Callable[..., MontemapServer], tmp_path: Path) -> MontemapServer:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"- access_key_id: {KEY_ID}\n  secret_access_key: {SECRET}\n")
    keys.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return server_factory(extra_args=["--credentials", str(keys)])


def _deploy(server_url: str, tmp_path: Path, **env: str) -> tuple[int, str, str]:
    template = tmp_path / "signed.yaml"
    template.write_text(TEMPLATE)
    aws = {  # none of the machine's own AWS files
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = run_montemap("deploy", str(template), "--endpoint-url", server_url, env=aws | env)
    return done.returncode, done.stdout, done.stderr


def test_deploy_signs_with_the_environment_keys(
    keyed_server: MontemapServer, tmp_path: Path
) -> None:
    code, out, err = _deploy(
        keyed_server.url, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET
    )
    assert code == 0, err
    assert "Successfully created/updated stack - signed" in out


def test_deploy_signs_with_a_profile(keyed_server: MontemapServer, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    )
    code, out, err = _deploy(
        keyed_server.url,
        tmp_path,
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_PROFILE="team",
    )
    assert code == 0, err
    assert "Successfully created/updated stack - signed" in out


def test_a_refused_key_says_what_to_set(keyed_server: MontemapServer, tmp_path: Path) -> None:
    code, _, err = _deploy(keyed_server.url, tmp_path)
    assert code == 1 and err.count("\n") == 1 and "this is a bug" not in err, err
    assert "montemap's built-in key 'montemap'" in err
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE" in err
    code, _, err = _deploy(
        keyed_server.url, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY="wrong" * 4
    )
    assert code == 1 and err.count("\n") == 1 and "this is a bug" not in err, err
    assert f"'{KEY_ID}' (from AWS_ACCESS_KEY_ID) does not match (a wrong secret)" in err


def test_the_built_in_pair_serves_a_keyless_server(
    montemap_server: MontemapServer, tmp_path: Path
) -> None:
    code, out, err = _deploy(montemap_server.url, tmp_path)
    assert code == 0, err
    assert "signed-jobs" in out


def test_a_missing_profile_or_server_is_one_line(tmp_path: Path) -> None:
    code, _, err = _deploy("http://127.0.0.1:1", tmp_path, AWS_PROFILE="nowhere")
    assert code == 1 and err.count("\n") == 1 and "this is a bug" not in err, err
    assert "cannot read your AWS credentials" in err and "nowhere" in err
    code, _, err = _deploy("http://127.0.0.1:1", tmp_path)
    assert code == 1 and err.count("\n") == 1 and "this is a bug" not in err, err
    assert "cannot reach the montemap server at http://127.0.0.1:1" in err

"""Remote access end to end: a server on a non-loopback address, workers on "another host".

Where ``ip netns`` works (root on Linux) the server binds the host side of a
veth pair and every client process runs inside a private network namespace,
so it reaches the server over a real (virtual) network link as a second
machine would. Elsewhere the server binds 127.0.0.2 and clients run locally.

The server is the ``montemap server`` command with ``--allow-remote
--credentials FILE`` when the command has that option; until it is wired in,
``python -m tests.api.test_remote serve`` runs the same command with the
SigV4 authenticator from :func:`montemap.api.credentials.build_authenticator`.
The same module, run as ``worker`` or ``probe``, is the remote client.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import MontemapServer, ServerError, free_port, wait_for_execution

from .helpers import ROLE_ARN

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
KEY_ID = "AKIAREMOTEWORKER"
SECRET = "remote-worker-secret-0123456789abcdef"
WRONG_SECRET = "not-the-secret-but-just-as-long-0123"
CLIENT_TIMEOUT = 120.0
#: Reference: any address in 10.213.0.0/16 this module gives to its own namespace.
_NETNS_BASE = ipaddress.ip_address("10.213.0.0")


# ----------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class Network:
    """Where the server listens and how to start a process on the "other host"."""

    server_host: str
    client_prefix: tuple[str, ...]
    kind: str

    def client_command(self, *argv: str) -> list[str]:
        return [*self.client_prefix, *argv]


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def _namespace() -> Iterator[Network]:
    """A namespace ``mmr<pid>`` linked to this one by a veth pair on a private /30."""
    pid = os.getpid()
    name, host_if, ns_if = f"mmr{pid}", f"mmr{pid}h", f"mmr{pid}n"
    base = _NETNS_BASE + (pid % 16384) * 4
    host_addr, ns_addr = str(base + 1), str(base + 2)
    created_ns = created_link = False
    try:
        _ip("netns", "add", name)
        created_ns = True
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        created_link = True
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{ns_addr}/30", "dev", ns_if)
        _ip("netns", "exec", name, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Network(host_addr, ("ip", "netns", "exec", name), "netns")
    finally:
        if created_link:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        if created_ns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    if sys.platform == "linux" and os.geteuid() == 0 and shutil.which("ip"):
        try:
            with _namespace() as net:
                yield net
            return
        except subprocess.CalledProcessError:
            pass  # no netns here (a container without CAP_NET_ADMIN): use 127.0.0.2
    yield Network("127.0.0.2", (), "loopback")


# ----------------------------------------------------------------------------- the server


class RemoteServer(MontemapServer):
    """``montemap server`` on ``host`` with ``--allow-remote`` and optional credentials."""

    def __init__(
        self, data_dir: Path, host: str, credentials: Path | None, port: int | None = None
    ) -> None:
        self.credentials = credentials
        # Empty means unset: only the credentials file configures keys.
        env = {name: "" for name in ("MONTEMAP_ACCESS_KEY_ID", "MONTEMAP_SECRET_ACCESS_KEY")}
        super().__init__(data_dir, host=host, port=port or free_port(host), env=env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "montemap.api.cli"]
        argv += ["--host", self.host, "--port", str(self.port), "--data-dir", str(self.data_dir)]
        argv += ["--log-level", "warning", "--allow-remote"]
        if self.credentials is not None:
            argv += ["--credentials", str(self.credentials)]
        return argv


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("remote-credentials") / "credentials.yaml"
    path.write_text(f"- access_key_id: {KEY_ID}\n  secret_access_key: {SECRET}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def server(
    network: Network, credentials_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteServer]:
    data_dir = tmp_path_factory.mktemp("remote-server") / "data"
    remote = RemoteServer(data_dir, network.server_host, credentials_file)
    remote.start()
    yield remote
    remote.close()


def aws_env(key_id: str | None = KEY_ID, secret: str | None = SECRET) -> dict[str, str]:
    """An environment whose only AWS credentials are the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": str(REPO),
        }
    )
    if key_id is not None and secret is not None:
        env["AWS_ACCESS_KEY_ID"] = key_id
        env["AWS_SECRET_ACCESS_KEY"] = secret
    return env


def run_remote(
    network: Network, argv: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        network.client_command(*argv),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def run_client(network: Network, *argv: str, env: dict[str, str] | None = None) -> Any:
    """Run this module as a client on the other host; its JSON output."""
    done = run_remote(network, [sys.executable, "-m", __name__, *argv], env or aws_env())
    assert done.returncode == 0, f"client failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


def sfn_client(url: str, key_id: str = KEY_ID, secret: str = SECRET, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=75,
            **config,
        ),
    )


# ----------------------------------------------------------------------------- tests


def test_server_listens_on_the_remote_address_only(network: Network, server: RemoteServer) -> None:
    assert server.health() is not None
    if network.kind == "netns":
        assert not ipaddress.ip_address(server.host).is_loopback
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


def test_remote_worker_with_the_right_key(network: Network, server: RemoteServer) -> None:
    """A worker process on the other host polls the activity, works and reports success."""
    client = sfn_client(server.url)
    try:
        name = f"remote-{uuid.uuid4().hex[:8]}"
        activity = client.create_activity(name=name)["activityArn"]
        definition = {
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": activity, "TimeoutSeconds": 60, "End": True}
            },
        }
        machine = client.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=machine, input='{"batch": 7}')
        result = run_client(network, "worker", "--endpoint", server.url, "--activity", activity)
        assert result == {"input": {"batch": 7}, "reported": True}
        described = wait_for_execution(client, execution["executionArn"], timeout=30)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == {"worker": "remote", "batch": 7}
    finally:
        client.close()


def test_remote_callers_with_bad_credentials_are_refused(
    network: Network, server: RemoteServer
) -> None:
    outcome = run_client(network, "probe", "--endpoint", server.url)
    assert outcome == {
        "right key": "ok",
        "wrong secret": "InvalidSignatureException",
        "unknown key": "UnrecognizedClientException",
        "unsigned": "MissingAuthenticationTokenException",
        "session token": "UnrecognizedClientException",
        "wrong region": "InvalidSignatureException",
    }


def test_aws_cli_on_the_remote_host(network: Network, server: RemoteServer) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")
    argv = [aws, "stepfunctions", "list-activities", "--endpoint-url", server.url]
    done = run_remote(network, argv, aws_env())
    assert done.returncode == 0, done.stderr
    assert "activities" in json.loads(done.stdout)
    wrong = run_remote(network, argv, aws_env(secret=WRONG_SECRET))
    assert wrong.returncode != 0
    assert "InvalidSignatureException" in wrong.stderr
    assert SECRET not in wrong.stderr


def test_remote_bind_without_credentials_is_refused(network: Network, tmp_path: Path) -> None:
    if network.kind == "netns":
        refused = RemoteServer(tmp_path / "data", network.server_host, None)
    else:  # an address of no interface here: nothing is exposed even if the check failed
        refused = RemoteServer(tmp_path / "data", "198.51.100.7", None, port=free_port())
    try:
        with pytest.raises(ServerError, match="credentials"):
            refused.start(timeout=30)
        assert refused.proc is not None
        assert refused.proc.returncode not in (None, 0)
    finally:
        refused.close()


# ----------------------------------------------------------------------------- the clients


def _worker(args: argparse.Namespace) -> dict[str, Any]:
    """One poll of the activity as a remote worker; report success with its output."""
    client = sfn_client(
        args.endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    )
    try:
        task = client.get_activity_task(activityArn=args.activity, workerName="remote-worker")
        if not task.get("taskToken"):
            raise SystemExit("no task within the long poll")
        payload = json.loads(task["input"])
        output = {"worker": "remote", **payload}
        client.send_task_success(taskToken=task["taskToken"], output=json.dumps(output))
        return {"input": payload, "reported": True}
    finally:
        client.close()


def _probe(args: argparse.Namespace) -> dict[str, str]:
    """Call the server with the right key and with each kind of bad credentials."""
    import botocore
    import botocore.exceptions

    def attempt(client: Any) -> str:
        try:
            client.list_activities()
            return "ok"
        except botocore.exceptions.ClientError as exc:
            code: str = exc.response["Error"]["Code"]
            return code
        finally:
            client.close()

    def with_token() -> Any:
        import boto3

        return boto3.session.Session().client(
            "stepfunctions",
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            aws_session_token="FQoGZXIvYXdzEXAMPLE",
        )

    def in_region(region: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            "stepfunctions",
            endpoint_url=args.endpoint,
            region_name=region,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    return {
        "right key": attempt(sfn_client(args.endpoint)),
        "wrong secret": attempt(sfn_client(args.endpoint, secret=WRONG_SECRET)),
        "unknown key": attempt(sfn_client(args.endpoint, key_id="AKIANOTCONFIGURED")),
        "unsigned": attempt(sfn_client(args.endpoint, signature_version=botocore.UNSIGNED)),
        "session token": attempt(with_token()),
        "wrong region": attempt(in_region("eu-west-1")),
    }


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="remote client")
    parser.add_argument("role", choices=["worker", "probe"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--activity")
    args = parser.parse_args(argv)
    result = _worker(args) if args.role == "worker" else _probe(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


_FETCH = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    with urllib.request.urlopen(sys.argv[1], timeout=30) as r:\n"
    "        print(r.status)\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(e.code)\n"
)


def test_metrics_are_not_open_to_unsigned_remote_callers(
    network: Network, server: RemoteServer
) -> None:
    """``/metrics`` (counters, capacity, cgroup paths) is the server's own page, not an API
    action: on a server with keys it answers loopback clients only, like the console."""
    if network.kind != "netns":
        pytest.skip("needs a client on another address (ip netns)")
    statuses = {}
    for path in ("/health", "/metrics"):
        done = run_remote(network, [sys.executable, "-c", _FETCH, server.url + path], aws_env())
        assert done.returncode == 0, done.stderr[-2000:]
        statuses[path] = int(done.stdout.strip())
    assert statuses == {"/health": 200, "/metrics": 403}

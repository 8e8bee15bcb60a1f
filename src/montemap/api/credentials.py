"""Who may call the server: access keys configured on it, and the SigV4 authenticator.

Keys come from a credentials file (``--credentials FILE``: JSON, or YAML for
``.yaml``/``.yml``, a list of ``{access_key_id, secret_access_key}``) and/or
the environment (``MONTEMAP_ACCESS_KEY_ID`` with ``MONTEMAP_SECRET_ACCESS_KEY``).
Everything is validated with errors naming the file, the entry and the field;
no message, log line or ``repr`` ever contains a secret.

:func:`build_authenticator` turns the server's options into the app's
``authenticator`` hook: a :class:`SigV4Authenticator` when keys are
configured, ``None`` on loopback without keys, and a refusal to start on a
non-loopback address without keys.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import select
import stat
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request

from montemap.api import sigv4
from montemap.errors import ApiError, MontemapError

log = logging.getLogger("montemap.api.auth")

ENV_ACCESS_KEY_ID = "MONTEMAP_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "MONTEMAP_SECRET_ACCESS_KEY"
#: Shortest secret accepted: a captured signed request lets an attacker guess
#: a secret offline, so short secrets are refused (AWS's are 40 characters).
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 512
#: X-Amz-Target prefix of each protocol the server speaks -> its SigV4 service name.
SERVICES_BY_TARGET: Mapping[str, str] = {
    "AWSStepFunctions.": "states",
    "AmazonEC2ContainerServiceV20141113.": "ecs",
}

#: Prefix of the key a server draws at each start for its own clients (:func:`server_key`).
SERVER_KEY_PREFIX = "MONTEMAP_SERVER_"

_ACCESS_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_FIELDS = ("access_key_id", "secret_access_key")


class CredentialsError(MontemapError):
    """Access keys that cannot be used (bad file, bad environment, none for a remote bind)."""


@dataclass(frozen=True)
class AccessKey:
    """One access key; its ``repr`` hides the secret."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


class CredentialStore:
    """Access key id -> secret; ``repr`` lists ids only."""

    def __init__(self, keys: Iterable[AccessKey]) -> None:
        self._secrets: dict[str, str] = {}
        for key in keys:
            known = self._secrets.get(key.access_key_id)
            if known is not None and known != key.secret_access_key:
                raise CredentialsError(
                    f"access key id '{key.access_key_id}' is configured twice "
                    "with different secrets"
                )
            self._secrets[key.access_key_id] = key.secret_access_key

    def secret_for(self, access_key_id: str) -> str | None:
        return self._secrets.get(access_key_id)

    def with_key(self, key: AccessKey) -> CredentialStore:
        """These keys and ``key``."""
        keys = [AccessKey(i, s) for i, s in self._secrets.items()]
        return CredentialStore([*keys, key])

    @property
    def access_key_ids(self) -> list[str]:
        return sorted(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def __iter__(self) -> Iterator[str]:
        return iter(self.access_key_ids)

    def __repr__(self) -> str:
        return f"CredentialStore(access_key_ids={self.access_key_ids!r})"


def server_key() -> AccessKey:
    """A fresh random key for the server's own clients (its worker tasks, Lambda functions
    and AWS SDK integrations): drawn at each start, accepted by that server only, handed
    to its own processes through their environment and never logged."""
    return AccessKey(SERVER_KEY_PREFIX + secrets.token_hex(10).upper(), secrets.token_urlsafe(30))


# ----------------------------------------------------------------------------- loading


def validate_key(access_key_id: object, secret: object, where: str) -> AccessKey:
    """An :class:`AccessKey` from untrusted values; ``where`` prefixes errors."""
    if not isinstance(access_key_id, str):
        raise CredentialsError(f"{where}: 'access_key_id' must be a string")
    if not _ACCESS_KEY_ID_RE.match(access_key_id):
        raise CredentialsError(
            f"{where}: access_key_id {access_key_id!r} must be 1-128 letters, digits or '_'"
        )
    if not isinstance(secret, str):
        raise CredentialsError(f"{where}: 'secret_access_key' must be a string")
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise CredentialsError(
            f"{where}: secret_access_key for '{access_key_id}' has {len(secret)} characters; "
            f"it must have {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH}"
        )
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        raise CredentialsError(
            f"{where}: secret_access_key for '{access_key_id}' must be printable ASCII "
            "without spaces"
        )
    return AccessKey(access_key_id, secret)


def parse_credentials(document: object, where: str) -> list[AccessKey]:
    """Keys from a decoded credentials document (a non-empty list of mappings)."""
    if document is None:
        raise CredentialsError(
            f"{where}: is empty; expected a list of {{access_key_id, secret_access_key}} entries"
        )
    if not isinstance(document, list):
        raise CredentialsError(
            f"{where}: expected a list of {{access_key_id, secret_access_key}} entries, "
            f"found {type(document).__name__}"
        )
    if not document:
        raise CredentialsError(f"{where}: the list of access keys is empty")
    keys: list[AccessKey] = []
    seen: set[str] = set()
    for index, entry in enumerate(document):
        at = f"{where}: entry {index}"
        if not isinstance(entry, dict):
            raise CredentialsError(f"{at}: expected a mapping, found {type(entry).__name__}")
        unknown = sorted(str(name) for name in entry if name not in _FIELDS)
        if unknown:
            raise CredentialsError(
                f"{at}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(_FIELDS)})"
            )
        for name in _FIELDS:
            if name not in entry:
                raise CredentialsError(f"{at}: '{name}' is missing")
        key = validate_key(entry["access_key_id"], entry["secret_access_key"], at)
        if key.access_key_id in seen:
            raise CredentialsError(f"{at}: access key id '{key.access_key_id}' is listed twice")
        seen.add(key.access_key_id)
        keys.append(key)
    return keys


#: The most a credentials file may hold (a list of keys is a few hundred bytes a key).
CREDENTIALS_FILE_LIMIT = 1 << 20
#: How long a start waits for a pipe or device (``--credentials <(command)``, a FIFO)
#: to be written and closed: a FIFO nothing writes to must not hang the start.
CREDENTIALS_PIPE_WAIT = 30.0


def load_credentials_file(path: Path, *, wait: float = CREDENTIALS_PIPE_WAIT) -> list[AccessKey]:
    """Keys from a JSON file (YAML when named ``.yaml``/``.yml``).

    A file that other users can read is accepted with a warning. A pipe or a device
    (``--credentials <(command)``, a FIFO) is read until its writer closes it, for at
    most ``wait`` seconds: a start never hangs on one that no process writes.
    """
    where = f"credentials file {path}"
    try:
        data, mode = _read_credentials(path, where, wait)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise CredentialsError(f"{where}: no such file")
    except IsADirectoryError:
        raise CredentialsError(f"{where}: is a directory")
    except PermissionError:
        raise CredentialsError(f"{where}: permission denied")
    except UnicodeDecodeError:
        raise CredentialsError(f"{where}: not UTF-8 text")
    except OSError as exc:  # a loop of links, a name too long, a path through a file...
        raise CredentialsError(f"{where}: cannot be read: {exc.strerror or exc}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is accessible by other users; chmod 600 it", where)
    document: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise CredentialsError(f"{where}: not valid YAML{at}")
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CredentialsError(
                f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            )
    return parse_credentials(document, where)


def _read_credentials(path: Path, where: str, wait: float) -> tuple[bytes, int]:
    """The bytes of the credentials file and its mode. Opened without blocking (opening a
    FIFO waits for a writer); what is not a regular file is read with a deadline."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + wait
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        # A FIFO no writer opened yet reads as its end: wait for data or a hang-up first.
        waiting = not stat.S_ISREG(mode)
        while True:
            if waiting:
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    raise CredentialsError(
                        f"{where}: nothing written and closed within {wait:g} s (a pipe or "
                        "FIFO that no process writes to, or a device); give a regular file"
                    )
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:  # a writer is there, with nothing more yet
                waiting = True
                continue
            waiting = False
            if not chunk:
                return b"".join(chunks), mode
            size += len(chunk)
            if size > CREDENTIALS_FILE_LIMIT:
                raise CredentialsError(
                    f"{where}: more than {CREDENTIALS_FILE_LIMIT} bytes; not a credentials file"
                )
            chunks.append(chunk)
    finally:
        os.close(fd)


def credentials_from_env(environ: Mapping[str, str]) -> list[AccessKey]:
    """The key in ``MONTEMAP_ACCESS_KEY_ID``/``MONTEMAP_SECRET_ACCESS_KEY`` (empty: unset)."""
    key_id = environ.get(ENV_ACCESS_KEY_ID) or None
    secret = environ.get(ENV_SECRET_ACCESS_KEY) or None
    if key_id is None and secret is None:
        return []
    if key_id is None or secret is None:
        present, absent = (
            (ENV_ACCESS_KEY_ID, ENV_SECRET_ACCESS_KEY)
            if secret is None
            else (ENV_SECRET_ACCESS_KEY, ENV_ACCESS_KEY_ID)
        )
        raise CredentialsError(f"{present} is set but {absent} is not; set both or neither")
    return [validate_key(key_id, secret, "environment")]


def load_credentials(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> CredentialStore:
    """Every configured key: the file's (if any) and the environment's."""
    keys = load_credentials_file(path) if path is not None else []
    secrets_by_id = {key.access_key_id: key.secret_access_key for key in keys}
    for key in credentials_from_env(os.environ if environ is None else environ):
        if secrets_by_id.get(key.access_key_id, key.secret_access_key) != key.secret_access_key:
            raise CredentialsError(
                f"access key id '{key.access_key_id}' is in credentials file {path} and in "
                f"${ENV_ACCESS_KEY_ID} with different secrets"
            )
        keys.append(key)
    return CredentialStore(keys)


# ----------------------------------------------------------------------------- the hook


def expected_services(target: str | None) -> Collection[str]:
    """The SigV4 service names a request with this ``X-Amz-Target`` may be scoped to."""
    if target:
        for prefix, service in SERVICES_BY_TARGET.items():
            if target.startswith(prefix):
                return (service,)
    return tuple(SERVICES_BY_TARGET.values())


def incoming_request(request: Request, body: bytes) -> sigv4.IncomingRequest:
    """What SigV4 covers, taken from a Starlette request (path and query as sent)."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    path = path.split("?", 1)[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return sigv4.IncomingRequest(
        method=request.method,
        path=path,
        query=query,
        headers=list(request.headers.items()),
        body=body,
    )


class SigV4Authenticator:
    """The app's ``authenticator`` hook: accept SigV4-signed requests from configured keys.

    One verifier for every service on the server's port: ``services`` are the
    SigV4 service names a signature's scope may name (None: those the
    request's ``X-Amz-Target`` implies, Step Functions' and ECS's);
    :meth:`for_service` gives the same keys and clock scoped to one service
    (``lambda``, ``s3``, ``cloudformation``, ``iam``...).

    On success the access key id is left in ``request.state.access_key_id``;
    on refusal an :class:`ApiError` is raised and logged (key id and reason,
    never a secret).
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        region: str,
        clock: Callable[[], datetime] | None = None,
        services: Collection[str] | None = None,
    ) -> None:
        if len(store) == 0:
            raise CredentialsError("the SigV4 authenticator needs at least one access key")
        if services is not None and (not services or not all(services)):
            raise CredentialsError("the SigV4 authenticator's services must be service names")
        self.store = store
        self.region = region
        self.clock = clock or (lambda: datetime.now(UTC))
        self.services = tuple(services) if services is not None else None

    def for_service(self, *services: str) -> SigV4Authenticator:
        """The same keys, region and clock, accepting signatures scoped to ``services``."""
        return SigV4Authenticator(
            self.store, region=self.region, clock=self.clock, services=services
        )

    def with_key(self, key: AccessKey) -> SigV4Authenticator:
        """The same region, clock and services, accepting ``key`` too."""
        return SigV4Authenticator(
            self.store.with_key(key), region=self.region, clock=self.clock, services=self.services
        )

    def scopes(self, request: sigv4.IncomingRequest) -> Collection[str]:
        if self.services is not None:
            return self.services
        return expected_services(request.header("x-amz-target"))

    def authenticate(
        self, request: sigv4.IncomingRequest, *, payload: str | None = None, s3: bool = False
    ) -> str:
        """The access key id that signed ``request``; raises ``ApiError`` otherwise.

        ``payload`` and ``s3`` are S3's: the body's declared hash and S3's
        canonical URI (:func:`montemap.api.sigv4.verify`).
        """
        return sigv4.verify(
            request,
            secret_for=self.store.secret_for,
            region=self.region,
            services=self.scopes(request),
            now=self.clock(),
            payload=payload,
            s3=s3,
        )

    def authenticate_presigned(self, request: sigv4.IncomingRequest) -> str:
        """The access key id of a SigV4 presigned URL (``X-Amz-Credential``...)."""
        return sigv4.verify_presigned(
            request,
            secret_for=self.store.secret_for,
            region=self.region,
            services=self.scopes(request),
            now=self.clock(),
        )

    async def __call__(self, request: Request, body: bytes) -> None:
        try:
            key_id = self.authenticate(incoming_request(request, body))
        except ApiError as exc:
            client = request.client.host if request.client else "unknown"
            log.info("refused request from %s: %s (%s)", client, exc.code, exc.message[:200])
            raise
        request.state.access_key_id = key_id

    def __repr__(self) -> str:
        scoped = f", services={list(self.services)!r}" if self.services is not None else ""
        return f"SigV4Authenticator(region={self.region!r}, store={self.store!r}{scoped})"


# ----------------------------------------------------------------------------- server wiring


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--credentials FILE`` for ``montemap server``."""
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        default=None,
        help="JSON or YAML list of {access_key_id, secret_access_key}: requests must be "
        f"signed (SigV4) with one of them (also: ${ENV_ACCESS_KEY_ID} and "
        f"${ENV_SECRET_ACCESS_KEY}); required with a non-loopback --host",
    )


def _is_loopback(host: str) -> bool:
    # Imported here: montemap.api.cli imports this module to wire it in.
    from montemap.api.cli import is_loopback

    return is_loopback(host)


def build_authenticator(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> SigV4Authenticator | None:
    """The server's authenticator from its options (``host``, ``region``, ``credentials``).

    ``None`` when no keys are configured and the server binds to loopback;
    :class:`CredentialsError` when none are configured for a non-loopback bind.
    """
    path = getattr(args, "credentials", None)
    if path == "":
        raise CredentialsError("--credentials needs the name of a file (it was given an empty one)")
    store = load_credentials(Path(path) if path else None, environ)
    if len(store) == 0:
        if _is_loopback(args.host):
            return None
        raise CredentialsError(
            f"--host {args.host} is not a loopback address: remote access requires "
            f"credentials (--credentials FILE, or ${ENV_ACCESS_KEY_ID} and "
            f"${ENV_SECRET_ACCESS_KEY})"
        )
    log.info(
        "requests must be signed (SigV4, region %s) by one of %d access key(s): %s",
        args.region,
        len(store),
        ", ".join(store.access_key_ids),
    )
    return SigV4Authenticator(store, region=args.region)

"""Where the worker's Step Functions calls go and whose keys sign them.

Resolved once, when the client is made, the way boto3 resolves them:

* the endpoint: the one given (``--endpoint``), else botocore's configured
  endpoint (``AWS_ENDPOINT_URL_SFN``, ``AWS_ENDPOINT_URL``, the config
  file's ``services``/``endpoint_url``, unless ``ignore_configured_endpoint_urls``),
  else AWS's regional endpoint ``https://states.<region>.<partition's DNS suffix>``
  (``states-fips`` and the dual-stack suffix when the configuration asks);
* the region: the one given, else botocore's (``AWS_DEFAULT_REGION``, then
  the config file);
* the credentials: botocore's credential chain (environment, shared files,
  SSO, container credentials on ECS/Fargate, instance roles...), else
  montemap's built-in pair (:mod:`montemap.signing_keys`), which a keyless
  loopback server accepts, as ``montemap run --server`` and ``deploy`` sign.
  Refreshable credentials keep refreshing: the client asks for frozen ones per
  request. A configuration botocore cannot read (an ``AWS_PROFILE`` naming no
  profile, half a key pair) is a :class:`~montemap.worker.errors.WorkerError`
  saying so in one line.

:func:`proxy_for` says whether the endpoint is to be reached through an HTTP
proxy (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``, as botocore decides), and
:func:`ca_bundle` which certificates an HTTPS endpoint is verified against.

The common case, a given endpoint and keys in ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` (botocore's first provider, which wins whenever
both are set), needs no botocore session, so its import and the reading of the
config files are skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, NoRegionError

from montemap import signing_keys as keys
from montemap.worker.errors import WorkerError
from montemap.worker.sfn_signing import FrozenCredentials

if TYPE_CHECKING:
    from botocore.session import Session

#: The client name botocore's configured-endpoint lookup knows Step Functions by.
CLIENT_NAME = "stepfunctions"
_DEFAULT_PARTITION = {"dnsSuffix": "amazonaws.com", "dualStackDnsSuffix": "api.aws"}


class CredentialSource(Protocol):
    """What signs requests: botocore's ``Credentials`` or :class:`StaticCredentials`."""

    def get_frozen_credentials(self) -> Any: ...


@dataclass(frozen=True)
class StaticCredentials:
    """Keys that never change (from the environment, or the built-in pair)."""

    frozen: FrozenCredentials
    #: Where they came from, in botocore's words (``Credentials.method``), or "builtin".
    method: str = "env"

    def get_frozen_credentials(self) -> FrozenCredentials:
        return self.frozen


@dataclass(frozen=True)
class Resolved:
    """The endpoint, region and credentials of one client (None: none were found)."""

    endpoint_url: str
    region: str
    credentials: CredentialSource | None


#: What a worker signs with where botocore's chain finds no credentials.
BUILTIN = StaticCredentials(
    FrozenCredentials(keys.BUILTIN_ACCESS_KEY_ID, keys.BUILTIN_SECRET_ACCESS_KEY), "builtin"
)


def env_credentials(environ: Mapping[str, str]) -> StaticCredentials | None:
    """Keys from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` when botocore would
    take exactly those and nothing else (no expiry to refresh at), else None."""
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key or environ.get("AWS_CREDENTIAL_EXPIRATION"):
        return None
    token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or None
    return StaticCredentials(FrozenCredentials(access_key, secret_key, token))


def partition_of(region: str) -> Mapping[str, str]:
    """The ``outputs`` of the AWS partition ``region`` belongs to (botocore's table)."""
    text = (resources.files("botocore") / "data" / "partitions.json").read_text("utf-8")
    partitions: list[dict[str, Any]] = json.loads(text)["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return dict(partition["outputs"])
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return dict(partition["outputs"])
    return _DEFAULT_PARTITION


def regional_endpoint(region: str, *, fips: bool = False, dualstack: bool = False) -> str:
    """AWS's Step Functions endpoint for ``region`` (its endpoint rules, without botocore)."""
    outputs = partition_of(region)
    suffix_key = "dualStackDnsSuffix" if dualstack else "dnsSuffix"
    suffix = outputs.get(suffix_key) or _DEFAULT_PARTITION[suffix_key]
    host = "states-fips" if fips else "states"
    return f"https://{host}.{region}.{suffix}"


def proxy_for(endpoint_url: str) -> str | None:
    """The proxy botocore would send requests to ``endpoint_url`` through, if any."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None  # the usual case, without importing urllib.request
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(endpoint_url)
    try:
        if proxy_bypass(parts.netloc):
            return None
    except (OSError, TypeError, ValueError):
        pass
    proxy = getproxies().get(parts.scheme)
    return str(proxy) if proxy else None


def ca_bundle() -> str | None:
    """The CA bundle HTTPS connections verify against, in botocore's order; None: certifi's.

    ``AWS_CA_BUNDLE``, else ``ca_bundle`` in the profile of the config file
    (``AWS_CONFIG_FILE``, ``AWS_PROFILE``; or the credentials file), else ``REQUESTS_CA_BUNDLE``. An empty value
    counts as unset (botocore refuses it), and so does a profile that does not exist.
    The config file is read, and botocore imported, only when ``AWS_CA_BUNDLE`` is
    unset and the file exists.
    """
    found = os.environ.get("AWS_CA_BUNDLE")
    if not (found and found.strip()):
        found = _profile_setting("ca_bundle")
    if not (found and found.strip()):
        found = os.environ.get("REQUESTS_CA_BUNDLE")
    return found if found and found.strip() else None


def _profile_setting(name: str) -> str | None:
    """``name`` in the current profile (config and credentials files, as botocore merges
    them); None without either file, so the usual worker imports no botocore for it."""
    files = (
        os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config",
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials",
    )
    if not any(os.path.isfile(os.path.expanduser(path)) for path in files):
        return None
    from botocore.exceptions import ProfileNotFound

    try:
        value = _session().get_scoped_config().get(name)
    except ProfileNotFound:
        return None
    return str(value) if value is not None else None


def _session() -> Session:
    import botocore.session  # only where the configuration must be read

    return botocore.session.Session()


def _configured_endpoint(session: Session) -> str | None:
    from botocore.configprovider import ConfiguredEndpointProvider

    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name=CLIENT_NAME,
    )
    url = provider.provide()
    return str(url) if url else None


def resolve(*, endpoint_url: str | None, region: str | None) -> Resolved:
    """The client's endpoint, region and credentials (see the module's docstring).

    Raises botocore's ``NoRegionError`` when no region is configured anywhere.
    """
    region = region or os.environ.get("AWS_DEFAULT_REGION") or None
    credentials: CredentialSource | None = env_credentials(os.environ)
    if endpoint_url and region and credentials is not None:
        return Resolved(endpoint_url, region, credentials)
    try:
        session = _session()
        region = region or session.get_config_variable("region")
        if not region:
            raise NoRegionError()
        if credentials is None:
            credentials = session.get_credentials() or BUILTIN
        if not endpoint_url:
            endpoint_url = _configured_endpoint(session) or regional_endpoint(
                region,
                fips=bool(session.get_config_variable("use_fips_endpoint")),
                dualstack=bool(session.get_config_variable("use_dualstack_endpoint")),
            )
    except NoRegionError:
        raise
    except BotoCoreError as exc:  # AWS_PROFILE names no profile, half a key pair...
        raise WorkerError(f"cannot read your AWS credentials or configuration: {exc}") from None
    return Resolved(endpoint_url, region, credentials)


def signer(credentials: CredentialSource | None) -> str:
    """Who ``credentials`` sign as, for a message (:func:`montemap.signing_keys.describe`)."""
    try:
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except Exception:  # a refresh that fails now: the key id is not worth a traceback
        frozen = None
    key_id = str(getattr(frozen, "access_key", "") or "")
    if not key_id:
        return "no key"
    return keys.describe(key_id, str(getattr(credentials, "method", "") or ""))

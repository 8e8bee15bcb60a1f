"""The Lambda operations: functions, versions, aliases, and invoking them.

Functions defined by the server's configuration (the builtin functions and a
``--functions`` file, held by :class:`~montemap.engine.lambdas.FunctionRegistry`)
are shown read-only and their names are reserved: CreateFunction with such a
name is refused (ResourceConflictException), so a created function can never
replace one the shipped workflows call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from montemap.engine.db import Database
from montemap.engine.lambdas import FunctionRegistry
from montemap.errors import StatesError
from montemap.lambda_api import aliases, codezip, configs, texts
from montemap.lambda_api.async_queue import AsyncQueue
from montemap.lambda_api.async_runs import AsyncRuns
from montemap.lambda_api.codedirs import CodeDirs
from montemap.lambda_api.codeurl import CodeUrls
from montemap.lambda_api.errors import LambdaError, conflict, invalid, not_found, precondition
from montemap.lambda_api.event_configs import EventInvokeConfigs
from montemap.lambda_api.names import (
    LATEST,
    FunctionRef,
    check_alias_name,
    check_name,
    function_arn,
    is_version,
    parse_function_name,
)
from montemap.lambda_api.policy import FunctionPolicies
from montemap.lambda_api.runtime import Invocation, Outcome, Runner, ServerEnv
from montemap.lambda_api.settings import FunctionSettings, check_tags
from montemap.lambda_api.store import Config, FunctionStore
from montemap.storage.base import ObjectStore, ObjectStoreError

if TYPE_CHECKING:
    from montemap.aws.mapping import HostMapping, StandIn

log = logging.getLogger("montemap.lambda")

#: What a stored package's function name and version may be (no path can leave the code root).
_PACKAGE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,140}$")
_PACKAGE_VERSION_RE = re.compile(r"^(\$LATEST|[0-9]{1,10})$")


class LambdaService:
    """Functions created through the API, and the builtin ones, behind one interface."""

    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        builtins: FunctionRegistry,
        *,
        data_dir: Path,
        server: ServerEnv,
        account: str,
        concurrency: int = 8,
        host_mapping: HostMapping | None = None,
    ) -> None:
        #: The mapping file's layers and runtime stand-ins (docs/bring-your-own.md).
        self.host_mapping = host_mapping
        self.store = FunctionStore(db)
        #: Tags and reserved concurrency (the function's, not a version's).
        self.settings = FunctionSettings(self.store, self._existing)
        #: Resource-policy statements (AddPermission...), recorded and shown.
        self.policies = FunctionPolicies(self.store, self._policy_resource)
        self.objects = objects
        self.builtins = builtins
        self.code_root = data_dir / "lambda"
        #: ``$LATEST`` as generations, so new code never changes a running invocation.
        self.code_dirs = CodeDirs(self.code_root)
        self.region = server.region
        self.account = account
        #: Download URLs of the stored zips (GetFunction's ``Code.Location``).
        self.code_urls = CodeUrls(server.endpoint)
        self.runner = Runner(
            server, data_dir / "lambda-run", data_dir / "logs" / "lambda", limit=concurrency
        )
        self._lock = asyncio.Lock()  # code and version changes, one at a time
        #: Asynchronous invocations (Event, S3 notifications), durable (async_queue.py),
        #: with their event invoke configurations (retries, age, destinations).
        self.event_configs = EventInvokeConfigs(self)
        runs = AsyncRuns(self)
        self.queue = AsyncQueue(db, runs.run, settings=self.event_configs.policy, done=runs.done)
        for name in builtins.functions:
            if self.store.get(name) is not None:
                log.warning(
                    "function %s created through the API is shadowed by the builtin function "
                    "of the same name: callers reach the builtin one",
                    name,
                )

    # ------------------------------------------------------------------ lookups

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, self.account, name, qualifier)

    def is_builtin(self, name: str) -> bool:
        return name in self.builtins.functions

    def _latest(self, name: str) -> Config:
        config = self.store.get(name)
        if config is None:
            raise not_found(f"Function not found: {self.arn(name)}")
        return config

    def _check_mutable(self, name: str) -> None:
        if self.is_builtin(name):
            raise conflict(
                f"Function {name} is a builtin function of this server (defined by its "
                "configuration); it cannot be changed or deleted through the API"
            )

    def _existing(self, function: str, mutable: bool) -> str:
        """The name of the function ``function`` names (it must exist; builtins are read-only)."""
        name = parse_function_name(function).name
        if mutable:
            self._check_mutable(name)
        if not self.is_builtin(name):
            self._latest(name)
        return name

    def _policy_resource(self, function: str, qualifier: str | None) -> tuple[str, str]:
        """(name, ARN) of the created function, version or alias a policy is about."""
        ref = parse_function_name(function, qualifier)
        self._check_mutable(ref.name)
        self.resolve(ref)
        return ref.name, self.arn(ref.name, ref.qualifier)

    def resolve(self, ref: FunctionRef) -> Config:
        """The configuration of the version ``ref`` names (an alias resolves to its version)."""
        qualifier = ref.qualifier or LATEST
        if self.is_builtin(ref.name):
            if qualifier != LATEST:
                raise not_found(f"Function not found: {self.arn(ref.name, qualifier)}")
            target = self.builtins.functions[ref.name]
            return configs.builtin_config(ref.name, target, self.arn(ref.name))
        if not is_version(qualifier):
            alias = self.store.get_alias(ref.name, qualifier)
            if alias is None:
                raise not_found(f"Function not found: {self.arn(ref.name, qualifier)}")
            qualifier = alias["FunctionVersion"]
        config = self.store.get(ref.name, qualifier)
        if config is None:
            shown = None if qualifier == LATEST and ref.qualifier is None else qualifier
            raise not_found(f"Function not found: {self.arn(ref.name, shown)}")
        return config

    def get_configuration(self, function: str, qualifier: str | None = None) -> Config:
        return configs.public(self.resolve(parse_function_name(function, qualifier)))

    def get_function(self, function: str, qualifier: str | None = None) -> dict[str, Any]:
        config = self.resolve(parse_function_name(function, qualifier))
        name = config["FunctionName"]
        out: dict[str, Any] = {"Configuration": configs.public(config)}
        if not self.is_builtin(name):
            location = self.code_urls.url(name, config["Version"])
            out["Code"] = {"RepositoryType": "S3", "Location": location}
        tags = self.store.tags(name)
        if tags:
            out["Tags"] = tags
        reserved = self.store.reserved(name)
        if reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return out

    def code_package(self, name: str, version: str) -> Path:
        """The stored zip of a created function's version (a download URL was checked)."""
        path = self._zip_path(name, version)
        safe = _PACKAGE_NAME_RE.match(name) and _PACKAGE_VERSION_RE.match(version)
        if not safe or self.is_builtin(name) or not path.is_file():
            raise not_found(f"Function not found: {self.arn(name, version)}")
        return path

    def list_functions(self, *, all_versions: bool, marker: str, max_items: int) -> dict[str, Any]:
        """Builtin functions first, then created ones, by name; paged by name."""
        names = sorted(n for n in self.builtins.functions if n > marker)[: max_items + 1]
        names += self.store.names(marker, max_items + 1)
        names = sorted(set(names))[: max_items + 1]
        page, more = names[:max_items], len(names) > max_items
        items: list[Config] = []
        for name in page:
            if self.is_builtin(name):
                items.append(self.resolve(FunctionRef(name)))
            elif all_versions:
                items.extend(self._versions_shown(name))
            else:
                items.append(self._latest(name))
        out: dict[str, Any] = {"Functions": [configs.public(c) for c in items]}
        if more:
            out["NextMarker"] = page[-1]
        return out

    def _versions_shown(self, name: str) -> list[Config]:
        shown = []
        for config in self.store.versions(name):
            if config["Version"] == LATEST:
                config = {**config, "FunctionArn": self.arn(name, LATEST)}
            shown.append(config)
        return shown

    def list_versions(self, function: str, *, marker: str, max_items: int) -> dict[str, Any]:
        name = parse_function_name(function).name
        if self.is_builtin(name):
            return {"Versions": [configs.public(self.resolve(FunctionRef(name)))]}
        self._latest(name)
        versions = self._versions_shown(name)
        start = 0
        if marker:
            start = next((i + 1 for i, c in enumerate(versions) if c["Version"] == marker), 0)
        page = versions[start : start + max_items]
        out: dict[str, Any] = {"Versions": [configs.public(c) for c in page]}
        if start + max_items < len(versions):
            out["NextMarker"] = page[-1]["Version"]
        return out

    # ------------------------------------------------------------------ code

    def _code_dir(self, name: str, version: str) -> Path:
        return self.code_dirs.path(name, version)

    def _zip_path(self, name: str, version: str) -> Path:
        return self.code_root / name / f"{version}.zip"

    async def _fetch_code(self, params: dict[str, Any]) -> bytes:
        if params.get("ImageUri"):
            raise invalid("Container images cannot be fetched here: deploy the function as a zip")
        zipped = params.get("ZipFile")
        if zipped is not None:
            try:
                return base64.b64decode(zipped, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise invalid("ZipFile must be the zip's bytes, base64-encoded in the request")
        bucket, key = params.get("S3Bucket"), params.get("S3Key")
        if not bucket or not key:
            raise invalid("Code must have ZipFile, or S3Bucket and S3Key")
        try:
            return await asyncio.to_thread(self.objects.get, bucket, key)
        except ObjectStoreError as exc:
            raise invalid(
                f"Error occurred while GetObject. S3 Error Code: {exc.code}. "
                f"S3 Error Message: {exc} (s3://{bucket}/{key})"
            )

    async def _install(self, name: str, data: bytes) -> codezip.CodeInfo:
        """Check and unpack a package as the function's ``$LATEST`` code."""

        def work() -> codezip.CodeInfo:
            info = codezip.validate(data)
            self.code_dirs.install_latest(name, data)
            self._zip_path(name, LATEST).write_bytes(data)
            return info

        return await asyncio.to_thread(work)

    # ------------------------------------------------------------------ changes

    async def create_function(self, params: dict[str, Any]) -> Config:
        name = check_name(str(params.get("FunctionName") or ""))
        code = params.get("Code")
        if not isinstance(code, dict):
            raise invalid("Code is required: give ZipFile, or S3Bucket and S3Key")
        async with self._lock:
            if self.is_builtin(name) or self.store.get(name) is not None:
                raise conflict(f"Function already exist: {name}")
            configs.check_settings(params)
            tags = check_tags(params["Tags"]) if params.get("Tags") is not None else {}
            self._check_layers(params)
            data = await self._fetch_code(code)
            codezip.validate(data)
            if self.store.get(name) is not None:
                raise conflict(f"Function already exist: {name}")
            info = await self._install(name, data)
            config = configs.new_config(
                params, name=name, arn=self.arn(name), code_size=info.size, code_sha256=info.sha256
            )
            self.store.put(name, LATEST, config)
            if tags:
                self.store.put_tags(name, tags)
            if params.get("Publish"):
                return configs.public(await self._publish(name, ""))
        return configs.public(config)

    async def update_code(self, function: str, params: dict[str, Any]) -> Config:
        name = parse_function_name(function).name
        self._check_mutable(name)
        async with self._lock:
            config = self._check_revision(self._latest(name), params)
            data = await self._fetch_code(params)
            if params.get("DryRun"):
                info = codezip.validate(data)
                return configs.public({**config, "CodeSize": info.size, "CodeSha256": info.sha256})
            info = await self._install(name, data)
            config = {
                **config,
                "CodeSize": info.size,
                "CodeSha256": info.sha256,
                "LastModified": configs.now_text(),
                "RevisionId": configs.new_revision(),
            }
            self.store.put(name, LATEST, config)
            if params.get("Publish"):
                return configs.public(await self._publish(name, ""))
        return configs.public(config)

    async def update_configuration(self, function: str, params: dict[str, Any]) -> Config:
        name = parse_function_name(function).name
        self._check_mutable(name)
        async with self._lock:
            config = self._check_revision(self._latest(name), params)
            self._check_layers(params)
            config = configs.updated_config(config, params)
            self.store.put(name, LATEST, config)
        return configs.public(config)

    def _check_layers(self, params: dict[str, Any]) -> None:
        """Layers the mapping stands in for need their packages on the host."""
        layers = params.get("Layers") or []
        if self.host_mapping is None or not isinstance(layers, list):
            return
        problems = self.host_mapping.layer_problems([str(arn) for arn in layers])
        if problems:
            raise invalid("; ".join(problems))

    def stand_in(self, name: str, runtime: str) -> StandIn | None:
        """The mapping's stand-in for a function whose runtime this host cannot run."""
        if self.host_mapping is None:
            return None
        try:
            self.runner.command(runtime)
            return None
        except LambdaError:
            return self.host_mapping.stand_in(name, runtime)

    @staticmethod
    def _check_revision(config: Config, params: dict[str, Any]) -> Config:
        wanted = params.get("RevisionId")
        if wanted and wanted != config["RevisionId"]:
            raise precondition(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        return config

    async def delete_function(self, function: str, qualifier: str | None = None) -> None:
        ref = parse_function_name(function, qualifier)
        self._check_mutable(ref.name)
        async with self._lock:
            self._latest(ref.name)
            if ref.qualifier is None:
                self.store.delete(ref.name)
                await asyncio.to_thread(shutil.rmtree, self.code_root / ref.name, True)
                return
            if ref.qualifier == LATEST or not is_version(ref.qualifier):
                raise invalid(
                    "Deletion of aliases or $LATEST is not supported through DeleteFunction: "
                    "delete the function, a version, or use DeleteAlias"
                )
            if self.store.get(ref.name, ref.qualifier) is None:
                raise not_found(f"Function not found: {self.arn(ref.name, ref.qualifier)}")
            using = [
                a["Name"]
                for a in self.store.aliases(ref.name)
                if a["FunctionVersion"] == ref.qualifier
            ]
            if using:
                raise conflict(
                    f"Unable to delete version because the following aliases reference it: {using}"
                )
            self.store.delete(ref.name, ref.qualifier)
            await asyncio.to_thread(self._remove_version_files, ref.name, ref.qualifier)

    def _remove_version_files(self, name: str, version: str) -> None:
        shutil.rmtree(self._code_dir(name, version), ignore_errors=True)
        self._zip_path(name, version).unlink(missing_ok=True)

    async def publish_version(self, function: str, params: dict[str, Any]) -> Config:
        name = parse_function_name(function).name
        self._check_mutable(name)
        async with self._lock:
            latest = self._check_revision(self._latest(name), params)
            wanted = params.get("CodeSha256")
            if wanted and wanted != latest["CodeSha256"]:
                raise invalid(
                    f"CodeSha256 ({wanted}) is different from current CodeSha256 in $LATEST "
                    f"({latest['CodeSha256']}). Please try again with the CodeSha256 in $LATEST."
                )
            description = configs.check_description(params.get("Description"))
            return configs.public(await self._publish(name, description))

    async def _publish(self, name: str, description: str) -> Config:
        """A version of ``$LATEST`` (the last one again when nothing changed since)."""
        latest = self._latest(name)
        published = [c for c in self.store.versions(name) if c["Version"] != LATEST]
        if published and configs.same_settings(published[-1], latest):
            return published[-1]
        version = self.store.next_version(name)

        def copy() -> None:
            shutil.copytree(self._code_dir(name, LATEST), self._code_dir(name, version))
            shutil.copyfile(self._zip_path(name, LATEST), self._zip_path(name, version))

        await asyncio.to_thread(copy)
        config = {
            **latest,
            "Version": version,
            "FunctionArn": self.arn(name, version),
            "Description": description or latest.get("Description", ""),
            "RevisionId": configs.new_revision(),
        }
        self.store.put(name, version, config)
        return config

    # ------------------------------------------------------------------ aliases

    def _alias_config(self, name: str, alias: str, params: dict[str, Any]) -> Config:
        version = params.get("FunctionVersion")
        if not isinstance(version, str) or not is_version(version):
            raise invalid("FunctionVersion must be $LATEST or a published version number")
        primary = self.store.get(name, version)
        if primary is None:
            raise not_found(f"Function not found: {self.arn(name, version)}")
        config: Config = {
            "AliasArn": self.arn(name, alias),
            "Name": alias,
            "FunctionVersion": version,
            "Description": configs.check_description(params.get("Description")),
            "RevisionId": configs.new_revision(),
        }
        routing = aliases.check_routing(
            params.get("RoutingConfig"),
            primary,
            lambda v: self.store.get(name, v),
            lambda v: self.arn(name, v),
        )
        if routing is not None:
            config["RoutingConfig"] = routing
        return config

    def create_alias(self, function: str, params: dict[str, Any]) -> Config:
        name = parse_function_name(function).name
        self._check_mutable(name)
        alias = check_alias_name(str(params.get("Name") or ""))
        self._latest(name)
        if self.store.get_alias(name, alias) is not None:
            raise conflict(f"Alias already exists: {self.arn(name, alias)}")
        config = self._alias_config(name, alias, params)
        self.store.put_alias(name, alias, config)
        return config

    def update_alias(self, function: str, alias: str, params: dict[str, Any]) -> Config:
        name = parse_function_name(function).name
        current = self.get_alias(function, alias)
        wanted = params.get("RevisionId")
        if wanted and wanted != current["RevisionId"]:
            raise precondition("The Revision Id provided does not match the latest Revision Id.")
        merged = {"FunctionVersion": current["FunctionVersion"], **params}
        merged.setdefault("Description", current.get("Description", ""))
        merged.setdefault("RoutingConfig", current.get("RoutingConfig"))  # kept unless given
        config = self._alias_config(name, alias, merged)
        self.store.put_alias(name, alias, config)
        return config

    def get_alias(self, function: str, alias: str) -> Config:
        name = parse_function_name(function).name
        config = self.store.get_alias(name, alias)
        if config is None:
            raise not_found(f"Cannot find alias arn: {self.arn(name, alias)}")
        return config

    def list_aliases(
        self, function: str, version: str | None, *, marker: str = "", max_items: int = 50
    ) -> dict[str, Any]:
        name = parse_function_name(function).name
        if not self.is_builtin(name):
            self._latest(name)
        found = self.store.aliases(name)
        if version:
            found = [a for a in found if a["FunctionVersion"] == version]
        return aliases.page(found, marker, max_items)

    def delete_alias(self, function: str, alias: str) -> None:
        name = parse_function_name(function).name
        self.store.delete_alias(name, alias)

    # ------------------------------------------------------------------ invoking

    async def invoke(
        self,
        ref: FunctionRef,
        event: str,
        *,
        client_context: str = "",
        nested: bool = False,
        request_id: str | None = None,
    ) -> tuple[Outcome, str]:
        """Run the version ``ref`` names with ``event`` (JSON text); (outcome, executed version).

        An alias with weighted routing runs its second version for that share of calls.
        A ``nested`` call (a running function's) runs in its caller's slot (``Runner.run``).

        Past the function's reserved concurrency the call is throttled."""
        config = self.resolve(ref)
        if ref.qualifier is not None and not is_version(ref.qualifier):
            alias = self.store.get_alias(ref.name, ref.qualifier)
            picked = aliases.pick_version(alias) if alias is not None else config["Version"]
            if picked != config["Version"]:
                config = self.resolve(FunctionRef(ref.name, picked))
        request_id = request_id or str(uuid.uuid4())
        name, version = config["FunctionName"], config["Version"]
        if self.is_builtin(name):
            return await self._invoke_builtin(name, event, request_id), LATEST
        fault = texts.stored_fault(config)  # a lone surrogate stored before they were refused
        if fault is not None:
            return fault, version
        call = Invocation(
            name=name,
            version=version,
            runtime=config["Runtime"],
            handler=config["Handler"],
            timeout=int(config["Timeout"]),
            memory=int(config["MemorySize"]),
            variables=dict(config.get("Environment", {}).get("Variables", {})),
            code_dir=self._code_dir(name, version),
            invoked_arn=self.arn(name, ref.qualifier),
            request_id=request_id,
            event=event,
            client_context=client_context,
            unmapped_layers=configs.unmapped_layers(config, self.host_mapping),
            role=str(config.get("Role") or ""),
            log_group=configs.custom_log_group(config),
        )
        stand_in = self.stand_in(name, call.runtime)
        if stand_in is not None:
            code_dir = stand_in.code or call.code_dir
            call = replace(
                call, runtime=stand_in.runtime, handler=stand_in.handler, code_dir=code_dir
            )
        async with self.settings.running(name):
            try:
                with self.code_dirs.running(call.code_dir) as work_dir:
                    outcome = await self.runner.run(replace(call, work_dir=work_dir), lent=nested)
                if version == LATEST:  # the code it ran may have been replaced meanwhile
                    await asyncio.to_thread(self.code_dirs.sweep, name)
                return outcome, version
            finally:  # its slot is free once this block is left: throttled events try again
                self.queue.wake(name)

    async def _invoke_builtin(self, name: str, event: str, request_id: str) -> Outcome:
        context = {"function_name": name, "aws_request_id": request_id}
        payload, error = await self.builtins.invoke(name, json.loads(event), context)
        if error is None:
            return Outcome(payload=json.dumps(payload))
        return Outcome(payload=json.dumps(payload), function_error="Unhandled", error_type=error)

    async def invoke_for_states(self, function: str, event: Any) -> tuple[Any, str | None, str]:
        """For ``lambda:invoke`` tasks: (payload, error type or None, executed version).

        A refusal of the Lambda service becomes the ``Lambda.<Exception>`` error
        Step Functions reports (``Lambda.ResourceNotFoundException``...).
        """
        try:
            outcome, version = await self.invoke(parse_function_name(function), json.dumps(event))
        except LambdaError as exc:
            raise StatesError(f"Lambda.{exc.code}", exc.message)
        error = outcome.error_type if outcome.function_error else None
        try:
            payload = json.loads(outcome.payload)
        except ValueError:  # a response-streaming handler's bytes need not be JSON
            payload = outcome.payload
        return payload, error, version

    def invoke_event(self, ref: FunctionRef, event: str) -> None:
        """Queue an asynchronous invocation (``InvocationType: Event``); checks the name first."""
        self.resolve(ref)
        self.queue.put(ref, event)

    async def close(self) -> None:
        await self.queue.close()


__all__ = ["LambdaError", "LambdaService"]

"""AWS::Lambda::Function, ::Version and ::Alias, through the server's Lambda service.

Inline code (``Code.ZipFile``) is packaged as CloudFormation does: ``index.py``
with a ``cfnresponse`` module beside it (Python), ``index.js`` with
``cfn-response`` (Node.js). ``Code.S3Bucket``/``S3Key`` read the zip from the
object store.
"""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, calling, required
from montemap.cloudformation.providers.cfnresponse_code import NODE, PYTHON
from montemap.lambda_api.names import parse_function_name

_SETTINGS = ("Runtime", "Handler", "Timeout", "MemorySize", "Environment", "Description")


def inline_zip(runtime: str, code: str) -> bytes:
    """The package CloudFormation makes of inline code, with its response module."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if runtime.startswith("nodejs"):
            archive.writestr("index.js", code)
            archive.writestr("node_modules/cfn-response/index.js", NODE)
            archive.writestr("cfn-response.js", NODE)
        else:
            archive.writestr("index.py", code)
            archive.writestr("cfnresponse.py", PYTHON)
    return buffer.getvalue()


def _code(request: Request) -> dict[str, Any]:
    code = required(request, "Code")
    if not isinstance(code, dict):
        raise ResourceFailure("Properties validation failed: Code must be a mapping")
    if "ZipFile" in code:
        runtime = str(request.properties.get("Runtime", "python3.12"))
        data = inline_zip(runtime, str(code["ZipFile"]))
        return {"ZipFile": base64.b64encode(data).decode("ascii")}
    if "S3Bucket" in code and "S3Key" in code:
        return {"S3Bucket": str(code["S3Bucket"]), "S3Key": str(code["S3Key"])}
    if "ImageUri" in code:
        raise ResourceFailure("Container image functions cannot run here: deploy a zip")
    raise ResourceFailure("Properties validation failed: Code needs ZipFile or S3Bucket/S3Key")


def _settings(request: Request) -> dict[str, Any]:
    params = {k: request.properties[k] for k in _SETTINGS if k in request.properties}
    for key in ("Timeout", "MemorySize"):
        if key in params:
            params[key] = int(params[key])
    env = params.get("Environment")
    if isinstance(env, dict):
        variables = env.get("Variables") or {}
        params["Environment"] = {"Variables": {str(k): str(v) for k, v in variables.items()}}
    params["Role"] = str(
        request.properties.get("Role") or f"arn:aws:iam::{request.services.account}:role/lambda"
    )
    layers = request.properties.get("Layers")
    if layers:
        params["Layers"] = [str(arn) for arn in layers]
        mapping = request.services.lambdas.host_mapping
        mapped = [a for a in params["Layers"] if mapping and mapping.layer_packages(a) is not None]
        if mapped and mapping is not None:
            packages = sorted({p for a in mapped for p in mapping.layer_packages(a) or ()})
            request.notes.append(
                f"Layers {', '.join(mapped)}: the mapping stands them in with the host's "
                f"{', '.join(packages)}"
            )
        if len(mapped) < len(params["Layers"]):
            request.notes.append(
                "Layers are recorded, not fetched: the function imports what the server's Python has"
            )
    return params


def _stand_in_note(request: Request, name: str) -> None:
    runtime = str(request.properties.get("Runtime", ""))
    stand_in = request.services.lambdas.stand_in(name, runtime)
    if stand_in is not None:
        request.notes.append(stand_in.describe(runtime))


def _function_attributes(arn: str) -> dict[str, Any]:
    """``Fn::GetAtt`` of a function: its ARN, and SnapStart (never on here) as AWS reports it."""
    return {
        "Arn": arn,
        "SnapStartResponse.ApplyOn": "None",
        "SnapStartResponse.OptimizationStatus": "Off",
    }


class FunctionProvider:
    async def create(self, request: Request) -> Outcome:
        service = request.services.lambdas
        name = str(request.properties.get("FunctionName") or request.generated_name(limit=64))
        params = {"FunctionName": name, "Code": _code(request), **_settings(request)}
        config = await calling(lambda: service.create_function(params))
        _stand_in_note(request, name)
        return Outcome(name, _function_attributes(str(config["FunctionArn"])))

    async def update(self, request: Request) -> Outcome:
        service = request.services.lambdas
        name = request.physical_id
        wanted = request.properties.get("FunctionName")
        if wanted is not None and str(wanted) != name:
            raise NeedsReplacement("FunctionName cannot change (a replacement)")
        settings = _settings(request)
        await calling(lambda: service.update_configuration(name, settings))
        if request.properties.get("Code") != request.old_properties.get("Code"):
            code = _code(request)
            await calling(lambda: service.update_code(name, code))
        return Outcome(name, _function_attributes(service.arn(name)))

    async def delete(self, request: Request) -> None:
        service = request.services.lambdas
        await calling(lambda: service.delete_function(request.physical_id))


class VersionProvider:
    async def create(self, request: Request) -> Outcome:
        service = request.services.lambdas
        name = parse_function_name(str(required(request, "FunctionName"))).name
        params = {"Description": str(request.properties.get("Description", ""))}
        config = await calling(lambda: service.publish_version(name, params))
        arn = str(config["FunctionArn"])
        return Outcome(arn, {"Version": config["Version"], "FunctionArn": arn})

    async def update(self, request: Request) -> Outcome:
        return await self.create(request)

    async def delete(self, request: Request) -> None:
        service = request.services.lambdas
        name, _, version = request.physical_id.rpartition(":")
        await calling(lambda: service.delete_function(name, version))


def _routing(request: Request) -> dict[str, Any]:
    """The template's ``RoutingConfig`` (a list of ``{FunctionVersion, FunctionWeight}``)
    as Lambda's API takes it (``{version: weight}``); ``{}``: none."""
    config = request.properties.get("RoutingConfig")
    if config is None:
        return {}
    weights = config.get("AdditionalVersionWeights", []) if isinstance(config, dict) else None
    if not isinstance(weights, list) or not all(isinstance(w, dict) for w in weights):
        raise ResourceFailure(
            "Properties validation failed: RoutingConfig.AdditionalVersionWeights must be a "
            "list of {FunctionVersion, FunctionWeight}"
        )
    try:
        return {
            "AdditionalVersionWeights": {
                str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights
            }
        }
    except (KeyError, TypeError, ValueError):
        raise ResourceFailure(
            "Properties validation failed: each AdditionalVersionWeights entry needs a "
            "FunctionVersion and a numeric FunctionWeight"
        ) from None


class AliasProvider:
    def _params(self, request: Request) -> dict[str, Any]:
        """CreateAlias/UpdateAlias parameters; an update without ``RoutingConfig`` removes
        the alias's routing (``{}``), as the template no longer names one."""
        return {
            "Name": str(required(request, "Name")),
            "FunctionVersion": str(required(request, "FunctionVersion")),
            "Description": str(request.properties.get("Description", "")),
            "RoutingConfig": _routing(request),
        }

    async def create(self, request: Request) -> Outcome:
        service = request.services.lambdas
        function = str(required(request, "FunctionName"))
        params = self._params(request)
        config = await calling(lambda: _sync(service.create_alias, function, params))
        return Outcome(str(config["AliasArn"]), {"AliasArn": str(config["AliasArn"])})

    async def update(self, request: Request) -> Outcome:
        service = request.services.lambdas
        function = str(required(request, "FunctionName"))
        params = self._params(request)
        alias = params.pop("Name")
        config = await calling(lambda: _sync(service.update_alias, function, alias, params))
        return Outcome(str(config["AliasArn"]), {"AliasArn": str(config["AliasArn"])})

    async def delete(self, request: Request) -> None:
        service = request.services.lambdas
        function, _, alias = request.physical_id.rpartition(":")
        service.delete_alias(function, alias)


async def _sync(call: Any, *args: Any) -> Any:
    return call(*args)

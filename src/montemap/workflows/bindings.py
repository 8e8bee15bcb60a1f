"""The shipped workflows and the resources they are bound to.

The ASL files in ``definitions/`` are the original state machines with their
resources written as ``${Name}`` placeholders. :func:`bind` fills them in for
one deployment: :func:`local_bindings` for montemap's own engine (activity
ARNs of this server, "Lambda" functions run locally, the local worker
service), or the AWS values of a CloudFormation stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources

from montemap.arns import ArnFactory
from montemap.errors import MontemapError

#: Workflow name -> file in ``definitions/``.
WORKFLOWS = {
    "data-processing": "data-processing.asl.json",
    "data-generation": "data-generation.asl.json",
}
#: State machine names the local deployment registers them under.
STATE_MACHINE_NAMES = {
    "data-processing": "montemap-data-processing",
    "data-generation": "montemap-data-generation",
}
SOURCE_BUCKET = "montemap-source"
RESULTS_BUCKET = "montemap-results"
CLUSTER = "default"
SERVICE = "montemap-workers"
ACTIVITY = "montemap-credit"
#: Local "Lambda" function names (registered on every local server).
FUNCTIONS = {
    "PartitionFunction": "PartitionInventory",
    "ReduceFunction": "ReduceAndReport",
    "SeedFunction": "SeedPortfolio",
    "GenerateFunction": "GenerateLoans",
    "InventoryFunction": "BuildInventory",
    "ManifestFunction": "WriteManifest",
}

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class BindingError(MontemapError):
    """A workflow that cannot be bound: unknown name, missing or unused values."""


def template(name: str) -> str:
    """The raw definition of a shipped workflow, placeholders included."""
    try:
        filename = WORKFLOWS[name]
    except KeyError:
        raise BindingError(f"no workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}")
    return resources.files("montemap.workflows").joinpath("definitions", filename).read_text()


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def bind(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``${Name}`` with its value (JSON-escaped); all must be given."""
    missing = sorted(placeholders(text) - set(values))
    if missing:
        raise BindingError(f"no value for {', '.join(missing)}")

    def replace(m: re.Match[str]) -> str:
        return json.dumps(str(values[m.group(1)]))[1:-1]

    bound = _PLACEHOLDER.sub(replace, text)
    json.loads(bound)  # still JSON
    return bound


def local_bindings(
    arns: ArnFactory,
    *,
    source_bucket: str = SOURCE_BUCKET,
    results_bucket: str = RESULTS_BUCKET,
    cluster: str = CLUSTER,
    service: str = SERVICE,
) -> dict[str, str]:
    """Values that bind the workflows to a local montemap server."""
    return {
        "SourceBucket": source_bucket,
        "ResultsBucket": results_bucket,
        "Cluster": cluster,
        "Service": service,
        "ActivityArn": arns.activity(ACTIVITY),
        **FUNCTIONS,
    }


def definition(name: str, values: Mapping[str, str]) -> str:
    """A shipped workflow bound with ``values``, as ASL JSON text."""
    return bind(template(name), values)

"""Names and references shared by every part of the generated stack.

Every physical name derives from the prefix, so a stack's ARNs can be
written down before it exists (the state machines' roles name their own
state machine, which would otherwise be a circular reference) and
``montemap aws definition``/``mapping`` can compute them offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from montemap.aws.cfn import Json, arn, get_att, ref, sub
from montemap.aws.options import TemplateOptions
from montemap.workflows import bindings

#: Logical ids of the two buckets, by the binding name that refers to them.
BUCKETS = {"SourceBucket": "source", "ResultsBucket": "results"}
#: Logical ids of the state machines, by workflow.
STATE_MACHINES = {
    "data-processing": "DataProcessingStateMachine",
    "data-generation": "DataGenerationStateMachine",
}
#: Task definitions (logical id, family suffix, CPU units, memory MiB), as locally.
TASK_DEFINITIONS = (
    ("SmallTaskDefinition", "small", 256, 512),
    ("LargeTaskDefinition", "large", 512, 1024),
)
CONTAINER = "worker"


@dataclass(frozen=True)
class Stack:
    """One stack's options with the names and references derived from them."""

    options: TemplateOptions

    @property
    def prefix(self) -> str:
        return self.options.prefix

    # ------------------------------------------------------------------ names
    def state_machine_name(self, workflow: str) -> str:
        return f"{self.prefix}-{workflow}"

    def function_name(self, binding: str) -> str:
        """``<prefix>-PartitionInventory`` for the binding ``PartitionFunction``."""
        return f"{self.prefix}-{bindings.FUNCTIONS[binding]}"

    @property
    def activity_name(self) -> str:
        return f"{self.prefix}-credit"

    @property
    def cluster_name(self) -> str:
        return self.prefix

    @property
    def service_name(self) -> str:
        return f"{self.prefix}-workers"

    @property
    def log_group_name(self) -> str:
        return f"/montemap/{self.prefix}"

    def given_bucket(self, binding: str) -> str | None:
        return (
            self.options.source_bucket if binding == "SourceBucket" else self.options.results_bucket
        )

    # ------------------------------------------------------------------ references
    def bucket(self, binding: str) -> Json:
        """The bucket's name: the one given, or the stack's bucket."""
        given = self.given_bucket(binding)
        return given if given is not None else ref(binding)

    def bucket_arn(self, binding: str) -> Json:
        given = self.given_bucket(binding)
        return sub(f"arn:${{AWS::Partition}}:s3:::{given}") if given else get_att(binding, "Arn")

    def objects_arn(self, binding: str, pattern: str = "*") -> Json:
        """ARN of the objects matching ``pattern`` (``runs/*``) in the bucket."""
        given = self.given_bucket(binding)
        if given:
            return sub(f"arn:${{AWS::Partition}}:s3:::{given}/{pattern}")
        return sub(f"${{{binding}.Arn}}/{pattern}")

    def state_machine_arn(self, workflow: str) -> Json:
        return arn("states", f"stateMachine:{self.state_machine_name(workflow)}")

    def child_executions_arn(self, workflow: str) -> Json:
        """The executions a Distributed Map of ``workflow`` starts (``name/label:id``)."""
        return arn("states", f"execution:{self.state_machine_name(workflow)}/*")

    def function_arns(self, binding: str) -> list[Json]:
        """The function and its versions or aliases."""
        return [get_att(binding, "Arn"), sub(f"${{{binding}.Arn}}:*")]

    @property
    def image_uri(self) -> Json:
        return sub(
            "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${ImageRepository}:${ImageTag}"
        )

    @property
    def repository_arn(self) -> Json:
        return arn("ecr", "repository/${ImageRepository}")

    def substitutions(self, workflow: str) -> dict[str, Any]:
        """``DefinitionSubstitutions`` for a workflow: every placeholder it names."""
        values: dict[str, Any] = {
            "SourceBucket": self.bucket("SourceBucket"),
            "ResultsBucket": self.bucket("ResultsBucket"),
            "Cluster": ref("Cluster"),
            "Service": get_att("WorkerService", "Name"),
            "ActivityArn": ref("Activity"),
            **{name: get_att(name, "Arn") for name in bindings.FUNCTIONS},
        }
        wanted = bindings.placeholders(bindings.template(workflow))
        unknown = wanted - set(values)
        if unknown:  # a shipped workflow grew a placeholder the stack cannot fill
            raise ValueError(f"workflow {workflow}: no AWS value for {', '.join(sorted(unknown))}")
        return {name: values[name] for name in sorted(wanted)}

    def workflow_functions(self, workflow: str) -> list[str]:
        """Binding names of the functions a workflow invokes."""
        wanted = bindings.placeholders(bindings.template(workflow))
        return [name for name in bindings.FUNCTIONS if name in wanted]

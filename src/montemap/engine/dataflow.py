"""How data flows through a state, in either query language.

JSONPath: InputPath -> Parameters -> (work) -> ResultSelector -> ResultPath ->
OutputPath, with Assign evaluated on the state's result. JSONata: Arguments ->
(work) -> Output and Assign, with ``$states`` holding input, result,
errorOutput and the context object.

:class:`StateData` bundles what a state's fields are evaluated against, so
state handlers call ``data.arguments(...)``/``data.output(...)`` without caring
which language the state uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from montemap.asl import jsonata_runner
from montemap.asl.intrinsic_syntax import is_intrinsic
from montemap.asl.intrinsics import evaluate_intrinsic
from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_syntax import PathError
from montemap.asl.payload import evaluate_payload
from montemap.asl.result_path import set_result
from montemap.engine.jsontext import compact_dumps
from montemap.errors import RUNTIME, EvaluationError

JSONPATH = "JSONPath"
JSONATA = "JSONata"

#: The largest state input, output or result (AWS: 256 KiB).
MAX_PAYLOAD_BYTES = 256 * 1024


#: Compact JSON as AWS writes it into history events and outputs.
dumps = compact_dumps


def payload_size(value: Any) -> int:
    return len(dumps(value).encode())


@dataclass
class StateData:
    """The inputs a state's fields are evaluated against."""

    language: str
    raw_input: Any
    context: dict[str, Any]
    variables: Mapping[str, Any]
    state_name: str
    #: Set once the state has a result (JSONata ``$states.result``).
    result: Any = None
    has_result: bool = False
    error_output: Any = None
    has_error_output: bool = False
    assigned: dict[str, Any] = field(default_factory=dict)

    @property
    def jsonata(self) -> bool:
        return self.language == JSONATA

    # ------------------------------------------------------------------ JSONata
    def states_var(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.raw_input, "context": self.context}
        if self.has_result:
            out["result"] = self.result
        if self.has_error_output:
            out["errorOutput"] = self.error_output
        return out

    async def eval_jsonata(self, value: Any, field_name: str) -> Any:
        """Evaluate JSONata templates off the event loop, within hard limits."""
        return await jsonata_runner.evaluate_field(
            value, field=field_name, states=self.states_var(), variables=self.variables
        )

    # ------------------------------------------------------------------ JSONPath
    def path(self, path: str, data: Any, field_name: str) -> Any:
        """A reference path (InputPath, OutputPath, ItemsPath...) on ``data``."""
        try:
            return query(path, data, context=self.context, variables=self.variables)
        except PathError:
            raise EvaluationError(
                RUNTIME, f"Invalid path '{path}' : No results for path: {_bracketed(path)}"
            )

    def payload(self, template: Any, data: Any) -> Any:
        return evaluate_payload(template, data, context=self.context, variables=self.variables)

    def intrinsic_or_path(self, expr: str, data: Any) -> Any:
        if is_intrinsic(expr):
            return evaluate_intrinsic(expr, data, context=self.context, variables=self.variables)
        return query(expr, data, context=self.context, variables=self.variables)

    # ------------------------------------------------------------------ pipeline
    def effective_input(self, state: Mapping[str, Any]) -> Any:
        """JSONPath InputPath (null means ``{}``); JSONata: the raw input."""
        if self.jsonata or "InputPath" not in state:
            return self.raw_input
        if state["InputPath"] is None:
            return {}
        return self.path(state["InputPath"], self.raw_input, "InputPath")

    async def arguments(
        self, state: Mapping[str, Any], effective: Any, *, key: str = "Parameters"
    ) -> Any:
        """What the state works on: Parameters/ItemSelector (JSONPath) or Arguments (JSONata)."""
        if self.jsonata:
            if "Arguments" in state:
                return await self.eval_jsonata(state["Arguments"], "Arguments")
            return self.raw_input
        if key in state:
            return self.payload(state[key], effective)
        return effective

    def select_result(self, state: Mapping[str, Any], result: Any) -> Any:
        """JSONPath ResultSelector; records the result for JSONata's ``$states.result``."""
        if not self.jsonata and "ResultSelector" in state:
            result = self.payload(state["ResultSelector"], result)
        self.result = result
        self.has_result = True
        return result

    async def assign(self, spec: Mapping[str, Any] | None, assign_data: Any) -> None:
        """Evaluate Assign with the variables as they were on entering the state."""
        if not spec:
            return
        if self.jsonata:
            values = await self.eval_jsonata(spec, "Assign")
        else:
            values = self.payload(spec, assign_data)
        if isinstance(values, dict):
            self.assigned.update(values)

    async def output(
        self, state: Mapping[str, Any], result: Any, *, has_result: bool = True
    ) -> Any:
        """The state's output: ResultPath + OutputPath, or JSONata Output."""
        if self.jsonata:
            if "Output" in state:
                return await self.eval_jsonata(state["Output"], "Output")
            return result if has_result else self.raw_input
        out = self.raw_input
        if has_result:
            out = set_result(self.raw_input, state.get("ResultPath", "$"), result)
        if "OutputPath" in state:
            if state["OutputPath"] is None:
                return {}
            out = self.path(state["OutputPath"], out, "OutputPath")
        return out

    async def catch_output(self, catcher: Mapping[str, Any], error_output: dict[str, Any]) -> Any:
        """A Catcher's output: ResultPath of the error output, or JSONata Output."""
        self.error_output = error_output
        self.has_error_output = True
        self.has_result = False
        if self.jsonata:
            if "Output" in catcher:
                return await self.eval_jsonata(catcher["Output"], "Output")
            return error_output
        return set_result(self.raw_input, catcher.get("ResultPath", "$"), error_output)


def _bracketed(path: str) -> str:
    """``$.a.b`` as Jayway prints it in errors: ``$['a']['b']``."""
    if not path.startswith("$"):
        return path
    parts = [p for p in path[1:].split(".") if p]
    return "$" + "".join(f"['{p}']" for p in parts)

"""Validation of Map states: items, processor, concurrency, tolerance and the
Distributed Map's ItemReader, ItemBatcher, ResultWriter and Label."""

from __future__ import annotations

import re
from typing import Any

from montemap.asl.validate_base import (
    DUPLICATE_LABEL_NAME,
    INVALID_LABEL_NAME,
    JSONATA,
    JSONPATH,
    Context,
    check_language_fields,
    exclusive,
    expect_enum,
    expect_int,
    expect_object,
    expect_string,
    is_number,
    pointer,
    shown,
)
from montemap.asl.validate_payload import check_path, check_template, is_dynamic

#: Largest batch payload (bytes) and item count a reader may be limited to.
MAX_INPUT_BYTES_PER_BATCH = 262_144
MAX_ITEMS = 100_000_000
MAX_LABEL = 40
_LABEL_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
#: The resources an ItemReader and a ResultWriter may name (after "arn:<partition>:").
_READER_RESOURCES = ("states:::s3:getObject", "states:::s3:listObjectsV2")
_WRITER_RESOURCES = ("states:::s3:putObject",)
_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")
#: The fields only a Distributed Map has (AWS's Inline Map fields leave them out): an
#: INLINE Map carrying one is refused rather than run without it. The tolerated
#: failure fields are not among them: AWS accepts them on an INLINE Map (recorded).
_DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter", "Label")


def check_map(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    """Every Map-specific rule, then the nested state machine."""
    _check_inline_fields(ctx, state, loc)
    if "Label" in state:
        _check_label(ctx, state["Label"], pointer(loc, "Label"))
    _check_processor(ctx, state, loc)
    exclusive(ctx, state, loc, "ItemSelector", "Parameters")
    if language == JSONPATH:
        if "ItemsPath" in state:
            check_path(
                ctx, state["ItemsPath"], pointer(loc, "ItemsPath"), "ItemsPath", reference=True
            )
        if "ItemSelector" in state and expect_object(
            ctx, state["ItemSelector"], pointer(loc, "ItemSelector"), "'ItemSelector'"
        ):
            check_template(ctx, state["ItemSelector"], pointer(loc, "ItemSelector"))
    elif (
        "Items" in state
        and not is_dynamic(state["Items"], language)
        and not isinstance(state["Items"], list)
    ):
        ctx.error(
            pointer(loc, "Items"),
            "The value for the field 'Items' must be an array or a JSONata expression ({% ... %})",
        )
    for name in ("ItemsPath", "Items"):
        if name in state and "ItemReader" in state:
            ctx.error(pointer(loc, name), f"'{name}' cannot be used together with 'ItemReader'")
    _limit(ctx, state, loc, language, "MaxConcurrency", 0)
    _limit(ctx, state, loc, language, "ToleratedFailureCount", 0)
    _percentage(ctx, state, loc, language)
    if "ItemReader" in state:
        _check_reader(ctx, state["ItemReader"], pointer(loc, "ItemReader"), language)
    if "ItemBatcher" in state:
        _check_batcher(ctx, state["ItemBatcher"], pointer(loc, "ItemBatcher"), language)
    if "ResultWriter" in state:
        _check_writer(ctx, state["ResultWriter"], pointer(loc, "ResultWriter"), language)


def _check_processor(ctx: Context, state: dict[str, Any], loc: str) -> None:
    """ItemProcessor (or the older Iterator): exactly one, a state machine whose
    DISTRIBUTED mode needs an ExecutionType."""
    present = exclusive(ctx, state, loc, "ItemProcessor", "Iterator")
    if not present:
        ctx.error(loc, "These fields are required: [ItemProcessor]")
        return
    processor = state[present[0]]
    here = pointer(loc, present[0])
    ctx.validate_machine(ctx, processor, here, "processor")
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    if not isinstance(config, dict):
        return
    if config.get("Mode") == "DISTRIBUTED" and "ExecutionType" not in config:
        ctx.error(pointer(here, "ProcessorConfig"), "These fields are required: [ExecutionType]")


def _check_inline_fields(ctx: Context, state: dict[str, Any], loc: str) -> None:
    """An INLINE Map (no ProcessorConfig, or Mode INLINE) with a Distributed-only field."""
    processor = state.get("ItemProcessor", state.get("Iterator"))
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    mode = config.get("Mode", "INLINE") if isinstance(config, dict) else "INLINE"
    if mode != "INLINE":  # DISTRIBUTED, or a wrong Mode (reported with the processor)
        return
    for name in _DISTRIBUTED_ONLY:
        if name in state:
            ctx.error(
                pointer(loc, name),
                f"Field '{name}' is not supported for a Map state in INLINE mode "
                "(set ItemProcessor.ProcessorConfig.Mode to DISTRIBUTED)",
            )


def check_processor_config(ctx: Context, value: Any, loc: str) -> None:
    """The fields of a ``ProcessorConfig`` object (checked with the machine)."""
    if not expect_object(ctx, value, loc, "'ProcessorConfig'"):
        return
    check_language_fields(ctx, value, loc, JSONPATH, ("Mode", "ExecutionType"))
    if "Mode" in value:
        expect_enum(ctx, value["Mode"], pointer(loc, "Mode"), "Mode", ("INLINE", "DISTRIBUTED"))
    if "ExecutionType" in value:
        expect_enum(
            ctx,
            value["ExecutionType"],
            pointer(loc, "ExecutionType"),
            "ExecutionType",
            ("STANDARD", "EXPRESS"),
        )


def _limit(
    ctx: Context,
    obj: dict[str, Any],
    loc: str,
    language: str,
    name: str,
    minimum: int,
    maximum: int | None = None,
) -> None:
    """``name`` (integer or JSONata expression) or ``namePath``, not both."""
    exclusive(ctx, obj, loc, name, f"{name}Path")
    if name in obj and not is_dynamic(obj[name], language):
        if maximum is None:
            expect_int(ctx, obj[name], pointer(loc, name), name, minimum=minimum)
        else:
            expect_int(ctx, obj[name], pointer(loc, name), name, minimum, maximum)
    if f"{name}Path" in obj and language == JSONPATH:
        check_path(
            ctx, obj[f"{name}Path"], pointer(loc, f"{name}Path"), f"{name}Path", reference=True
        )


def _percentage(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    name = "ToleratedFailurePercentage"
    exclusive(ctx, state, loc, name, f"{name}Path")
    value: Any = state.get(name)
    if (
        name in state
        and not is_dynamic(value, language)
        and not (is_number(value) and 0 <= float(value) <= 100)
    ):
        ctx.error(
            pointer(loc, name),
            f"The value for the field '{name}' must be a number between 0 and 100, not {shown(value)}",
        )
    if f"{name}Path" in state and language == JSONPATH:
        check_path(
            ctx, state[f"{name}Path"], pointer(loc, f"{name}Path"), f"{name}Path", reference=True
        )


def _check_label(ctx: Context, label: Any, loc: str) -> None:
    if not expect_string(ctx, label, loc, "Label", empty=False):
        return
    if len(label) > MAX_LABEL or _LABEL_FORBIDDEN.search(label):
        ctx.error(
            loc,
            f"Invalid label name {label!r}: at most {MAX_LABEL} characters, without "
            "whitespace, brackets, wildcards, special or control characters",
            INVALID_LABEL_NAME,
        )
    elif label in ctx.labels:
        ctx.error(
            loc,
            f"Duplicate label name: {label} (also at {ctx.labels[label]})",
            DUPLICATE_LABEL_NAME,
        )
    else:
        ctx.labels[label] = loc


def _resource_and_arguments(
    ctx: Context, obj: dict[str, Any], loc: str, language: str, resources: tuple[str, ...]
) -> None:
    """``Resource`` (one of ``resources``) and the JSONPath or JSONata arguments."""
    resource = obj.get("Resource")
    here = pointer(loc, "Resource")
    if "Resource" in obj and expect_string(ctx, resource, here, "Resource", empty=False):
        service = str(resource).split(":", 2)[-1] if str(resource).startswith("arn:") else ""
        if service not in resources:
            supported = ", ".join(f"arn:aws:{name}" for name in resources)
            ctx.error(
                here,
                f"The resource provided {resource} is not supported here; use one of: {supported}",
            )
    if (
        language == JSONPATH
        and "Parameters" in obj
        and expect_object(ctx, obj["Parameters"], pointer(loc, "Parameters"), "'Parameters'")
    ):
        check_template(ctx, obj["Parameters"], pointer(loc, "Parameters"))
    if language == JSONATA and "Arguments" in obj and not is_dynamic(obj["Arguments"], language):
        expect_object(ctx, obj["Arguments"], pointer(loc, "Arguments"), "'Arguments'")


def _check_reader(ctx: Context, reader: Any, loc: str, language: str) -> None:
    if not expect_object(ctx, reader, loc, "'ItemReader'"):
        return
    check_language_fields(
        ctx,
        reader,
        loc,
        language,
        ("Resource", "ReaderConfig"),
        ("Parameters",),
        ("Arguments",),
        ("Resource",),
        at_field=True,
    )
    _resource_and_arguments(ctx, reader, loc, language, _READER_RESOURCES)
    config = reader.get("ReaderConfig")
    if config is None:
        return
    here = pointer(loc, "ReaderConfig")
    if expect_object(ctx, config, here, "'ReaderConfig'"):
        _check_reader_config(ctx, config, here, language)


#: The enumerated fields of a ReaderConfig and their allowed values, in checking order.
_READER_ENUMS: dict[str, tuple[str, ...]] = {
    "InputType": _INPUT_TYPES,
    "CSVHeaderLocation": ("FIRST_ROW", "GIVEN"),
    "CSVDelimiter": ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"),
    "ManifestType": ("S3_INVENTORY", "ATHENA_DATA"),
    "Transformation": ("NONE", "LOAD_AND_FLATTEN"),
}


def _check_reader_config(ctx: Context, config: dict[str, Any], here: str, language: str) -> None:
    check_language_fields(
        ctx,
        config,
        here,
        language,
        (
            "InputType",
            "CSVHeaderLocation",
            "CSVHeaders",
            "CSVDelimiter",
            "ItemsPointer",
            "MaxItems",
            "ManifestType",
            "Transformation",
        ),
        ("MaxItemsPath",),
        at_field=True,
    )
    _check_enums(ctx, config, here, ("InputType", "CSVHeaderLocation"))
    _check_csv_headers(ctx, config, here)
    _check_enums(ctx, config, here, ("CSVDelimiter", "ManifestType", "Transformation"))
    # 0 means "no limit": AWS accepts it (the published workshop deploys it).
    _limit(ctx, config, here, language, "MaxItems", 0, MAX_ITEMS)


def _check_enums(ctx: Context, config: dict[str, Any], here: str, names: tuple[str, ...]) -> None:
    for name in names:
        if name in config:
            expect_enum(ctx, config[name], pointer(here, name), name, _READER_ENUMS[name])


def _check_csv_headers(ctx: Context, config: dict[str, Any], here: str) -> None:
    headers = config.get("CSVHeaders")
    if config.get("CSVHeaderLocation") == "GIVEN" and "CSVHeaders" not in config:
        ctx.error(here, "These fields are required: [CSVHeaders] (CSVHeaderLocation is GIVEN)")
    if "CSVHeaders" in config and not (
        isinstance(headers, list) and headers and all(isinstance(h, str) for h in headers)
    ):
        ctx.error(
            pointer(here, "CSVHeaders"),
            "The value for the field 'CSVHeaders' must be a non-empty array of strings",
        )


def _check_batcher(ctx: Context, batcher: Any, loc: str, language: str) -> None:
    if not expect_object(ctx, batcher, loc, "'ItemBatcher'"):
        return
    check_language_fields(
        ctx,
        batcher,
        loc,
        language,
        ("MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"),
        ("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"),
        at_field=True,
    )
    names = (
        "MaxItemsPerBatch",
        "MaxItemsPerBatchPath",
        "MaxInputBytesPerBatch",
        "MaxInputBytesPerBatchPath",
    )
    if not any(name in batcher for name in names):
        ctx.error(
            loc,
            "An ItemBatcher must specify 'MaxItemsPerBatch' or "
            "'MaxInputBytesPerBatch' (or their 'Path' variants)",
        )
    _limit(ctx, batcher, loc, language, "MaxItemsPerBatch", 1)
    _limit(ctx, batcher, loc, language, "MaxInputBytesPerBatch", 1, MAX_INPUT_BYTES_PER_BATCH)
    batch_input = batcher.get("BatchInput")
    if (
        "BatchInput" in batcher
        and not is_dynamic(batch_input, language)
        and expect_object(ctx, batch_input, pointer(loc, "BatchInput"), "'BatchInput'")
        and language == JSONPATH
    ):
        check_template(ctx, batch_input, pointer(loc, "BatchInput"))


def _check_writer(ctx: Context, writer: Any, loc: str, language: str) -> None:
    if not expect_object(ctx, writer, loc, "'ResultWriter'"):
        return
    check_language_fields(
        ctx,
        writer,
        loc,
        language,
        ("Resource", "WriterConfig"),
        ("Parameters",),
        ("Arguments",),
        at_field=True,
    )
    arguments = "Parameters" if language == JSONPATH else "Arguments"
    if "Resource" not in writer and "WriterConfig" not in writer:
        ctx.error(loc, "These fields are required: [Resource] or [WriterConfig]")
    elif "Resource" in writer and arguments not in writer:
        ctx.error(loc, f"These fields are required: [{arguments}] (with 'Resource')")
    _resource_and_arguments(ctx, writer, loc, language, _WRITER_RESOURCES)
    config = writer.get("WriterConfig")
    if config is None:
        return
    here = pointer(loc, "WriterConfig")
    if not expect_object(ctx, config, here, "'WriterConfig'"):
        return
    check_language_fields(
        ctx,
        config,
        here,
        language,
        ("OutputType", "Transformation"),
        (),
        (),
        ("OutputType", "Transformation"),
    )
    if "OutputType" in config:
        expect_enum(
            ctx, config["OutputType"], pointer(here, "OutputType"), "OutputType", ("JSON", "JSONL")
        )
    if "Transformation" in config:
        expect_enum(
            ctx,
            config["Transformation"],
            pointer(here, "Transformation"),
            "Transformation",
            ("NONE", "COMPACT", "FLATTEN"),
        )

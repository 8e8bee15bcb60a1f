"""The Amazon States Language: loading, validation, paths, intrinsics and JSONata."""

from montemap.asl.definition import (
    check_definition,
    format_invalid_definition,
    load_definition,
    validate_definition,
)

__all__ = [
    "check_definition",
    "format_invalid_definition",
    "load_definition",
    "validate_definition",
]

"""Errors of the CloudFormation service: API refusals and template problems."""

from __future__ import annotations

from montemap.errors import ApiError, MontemapError


class TemplateError(MontemapError):
    """A template that cannot be deployed: malformed, or an intrinsic that cannot be resolved."""


class ResourceFailure(MontemapError):
    """A resource that could not be created, updated or deleted; the message is the reason."""


def validation(message: str) -> ApiError:
    """CloudFormation's ``ValidationError`` (status 400)."""
    return ApiError("ValidationError", message, status=400)


def already_exists(message: str) -> ApiError:
    return ApiError("AlreadyExistsException", message, status=400)


def change_set_not_found(name: str) -> ApiError:
    return ApiError("ChangeSetNotFound", f"ChangeSet [{name}] does not exist", status=404)


def stack_missing(name: str) -> ApiError:
    return validation(f"Stack with id {name} does not exist")


class NeedsReplacement(ResourceFailure):
    """An update that changes what names the resource: a new one replaces it (as on AWS)."""

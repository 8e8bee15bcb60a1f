"""The shipped workflows and the main job: ``montemap run``, ``compare``, ``workflows``.

:mod:`montemap.workflows.bindings` binds the ASL files in ``definitions/`` to a
deployment; :mod:`montemap.workflows.functions` holds the functions they call.
"""

from montemap.workflows.bindings import (
    WORKFLOWS,
    BindingError,
    bind,
    definition,
    local_bindings,
    template,
)

__all__ = ["WORKFLOWS", "BindingError", "bind", "definition", "local_bindings", "template"]

"""The Step Functions JSON API: protocol, actions, the registry and the ``server`` command.

Build an app with :func:`create_app` around an engine and a :class:`Registry`;
``montemap server`` (:mod:`montemap.api.cli`) wires the real ones.
"""

from montemap.api.actions import ACTIONS, Context
from montemap.api.app import Authenticator, ServiceEndpoint, create_app
from montemap.api.engine_api import EngineApi
from montemap.api.registry import Registry, StateMachine, StateMachineVersion

__all__ = [
    "ACTIONS",
    "Authenticator",
    "Context",
    "EngineApi",
    "Registry",
    "ServiceEndpoint",
    "StateMachine",
    "StateMachineVersion",
    "create_app",
]

"""The Lambda service on the server's one endpoint: functions users create and invoke.

:mod:`.http` answers the Lambda REST API (``/2015-03-31/functions...``),
:mod:`.service` holds the operations, :mod:`.store` the SQLite records,
:mod:`.codezip` checks and unpacks deployment packages, and :mod:`.runtime`
runs a handler (Python or Node.js) in a process of its own. Nothing is
imported here, so the engine can use :mod:`.names` without the rest.
"""

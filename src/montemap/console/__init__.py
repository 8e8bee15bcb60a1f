"""montemap.console: the web console served by ``montemap server`` at ``/console/``.

``create_console(montemap)`` returns the Starlette ``Mount``; ``console_routes``
adds the ``GET /`` redirect to it. See docs/console.md.
"""

from montemap.console.app import console_routes, create_console

__all__ = ["console_routes", "create_console"]

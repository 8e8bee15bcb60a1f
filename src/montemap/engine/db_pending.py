"""The databases whose group transaction is pending, and what a response awaits before it leaves.

See :class:`montemap.engine.db.Database` (group commit): a database registers itself
here while its group holds work not yet committed; :func:`committed` waits for
those groups' COMMITs.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from montemap.engine.db import Database

#: Databases with a group open, by id (weak: a WeakSet is slow to iterate per request).
PENDING: dict[int, weakref.ref[Database]] = {}


async def committed() -> None:
    """Return once everything written so far is committed: await before acknowledging.

    The API awaits this before any response leaves, so a response never
    reports work that a crash could still lose. Responses finished in the
    same event-loop turn share one COMMIT (at the end of the turn).
    """
    # Only the groups pending now: waiting until nothing is pending at all would
    # never end while background work (a Map Run) writes in every loop turn.
    for ref in list(PENDING.values()):
        db = ref()
        if db is not None:
            await db.committed()

"""Held/dead actions from the console, through the pipeline's own services
(:mod:`postwarden.outbox.actions`): each is an Event on the message's timeline naming
who did it, and a re-queued recipient is checked against the policies again."""

from __future__ import annotations

from typing import Final

from postwarden.outbox import actions

#: the console's words for the two services
ACTIONS: Final = ("release", "cancel")


def apply(action: str, ids: list[int], user: object) -> str:
    """Run ``action`` on recipient ``ids``; returns what happened, for the page.
    Raises ValueError for an unknown action."""
    by = f"console: {getattr(user, 'email', '') or getattr(user, 'username', '')}"
    if action == "release":
        result = actions.requeue(ids, by=by)
        stopped = (
            f"; {result.stopped} stopped by a policy (suppressed or not approved now)"
            if result.stopped
            else ""
        )
        done = f"Queued {result.changed} recipient{'s' if result.changed != 1 else ''} again{stopped}."
    elif action == "cancel":
        result = actions.cancel(ids, by=by)
        done = f"Cancelled {result.changed} recipient{'s' if result.changed != 1 else ''}."
    else:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    skipped = f" {result.skipped} skipped: not in a state this applies to." if result.skipped else ""
    return done + skipped

"""Held/dead actions from the console, through the pipeline's own services
(:mod:`postwarden.outbox.actions`): each is an Event on the message's timeline naming
who did it, and a re-queued recipient is checked against the policies again."""

from __future__ import annotations

from typing import Final

from django.utils.translation import ngettext

from postwarden.console import formats
from postwarden.outbox import actions, sources

#: the console's words for the two services
ACTIONS: Final = ("release", "cancel")


def apply(action: str, ids: list[int], user: object) -> str:
    """Run ``action`` on recipient ``ids``; returns what happened, for the page.
    Raises ValueError for an unknown action."""
    by = sources.person(getattr(user, "email", "") or getattr(user, "username", ""))
    if action == "release":
        result = actions.requeue(ids, by=by)
        done = ngettext(
            "Queued %(count)s recipient again.", "Queued %(count)s recipients again.", result.changed
        ) % {"count": formats.number(result.changed)}
        if result.stopped:
            done += " " + ngettext(
                "%(count)s was stopped by a policy (suppressed or not approved now).",
                "%(count)s were stopped by a policy (suppressed or not approved now).",
                result.stopped,
            ) % {"count": formats.number(result.stopped)}
    elif action == "cancel":
        result = actions.cancel(ids, by=by)
        done = ngettext(
            "Cancelled %(count)s recipient.", "Cancelled %(count)s recipients.", result.changed
        ) % {"count": formats.number(result.changed)}
    else:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if result.skipped:
        done += " " + ngettext(
            "%(count)s skipped: not in a state this applies to.",
            "%(count)s skipped: not in a state this applies to.",
            result.skipped,
        ) % {"count": formats.number(result.skipped)}
    return done

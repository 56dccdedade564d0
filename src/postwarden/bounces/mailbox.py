"""The bounce mailbox (BOUNCE_IMAP_*): for installs that cannot receive on port 25, the
bounce domain's mail goes to a mailbox (Microsoft 365, Gmail, any IMAP server) and this
reads it over IMAP (:mod:`postwarden.core.imap`) into the same intake as the listener.

One poll: select the folder, take the messages not yet processed (every message when
processed mail is deleted; the unseen ones when it is flagged), hand each to the intake, and
only then delete it or mark it ``\\Seen \\Flagged``. A message the intake could not take
(the database is down) stays in the mailbox for the next poll; one taken twice (the poll
died between the intake and the delete) is a duplicate there, so nothing is lost and
nothing is done twice. A poll reads at most :data:`BATCH` messages: a storm is drained over
several polls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from postwarden.bounces import intake
from postwarden.core.config.model import BounceSettings
from postwarden.core.imap.errors import ImapError
from postwarden.core.imap.session import ImapEndpoint, ImapSecurity, ImapSession, open_session
from postwarden.core.verp import Verp

log = logging.getLogger("postwarden.bounces")

#: messages one poll reads
BATCH: Final = 200
#: flags of a processed message in "flag" mode (standard flags: every server keeps them)
PROCESSED_FLAGS: Final = ("\\Seen", "\\Flagged")


@dataclass
class Poll:
    """What one poll did."""

    found: int = 0
    taken: int = 0
    #: messages left for the next poll (the intake failed on them)
    left: int = 0
    errors: list[str] = field(default_factory=list)


def endpoint(settings: BounceSettings) -> ImapEndpoint:
    """The mailbox of ``settings``. Raises ValueError when it is not configured."""
    if not settings.imap_host or not settings.imap_user:
        raise ValueError("set BOUNCE_IMAP_HOST and BOUNCE_IMAP_USER for a bounce mailbox")
    return ImapEndpoint(
        host=settings.imap_host,
        port=settings.imap_port,
        security=ImapSecurity(settings.imap_security),
        user=settings.imap_user,
        password=settings.imap_password,
    )


def poll(settings: BounceSettings, verp: Verp) -> Poll:
    """Read the bounce mailbox once. Never raises for the mailbox's failures (they are in
    ``Poll.errors``, with the IMAP stage and the server's words, and logged)."""
    result = Poll()
    try:
        with open_session(endpoint(settings)) as imap:
            imap.select(settings.imap_folder)
            flag = settings.imap_processed == "flag"
            uids = imap.search("UNSEEN") if flag else imap.search("UNDELETED")
            result.found = len(uids)
            done = _take(imap, uids[:BATCH], settings, verp, result)
            if flag:
                imap.add_flags(done, *PROCESSED_FLAGS)
            else:
                imap.delete(done)
    except ImapError as exc:
        result.errors.append(str(exc))
        log.warning("bounce mailbox poll failed", extra={"error": str(exc), "stage": exc.stage.value})
    return result


def _take(
    imap: ImapSession, uids: list[int], settings: BounceSettings, verp: Verp, result: Poll
) -> list[int]:
    done = []
    origin = f"imap {settings.imap_user}@{settings.imap_host}/{settings.imap_folder}"
    for uid in uids:
        message = imap.fetch(uid)
        if message is None:  # expunged by another client meanwhile
            continue
        try:
            intake.take(intake.Arrival(message.raw, "imap", origin=origin[:255]), verp)
        except intake.NotYet as exc:
            result.left += 1
            log.info(
                "bounce left for the next poll: its message is still being sent", extra={"why": str(exc)}
            )
            continue
        except Exception as exc:  # the database: leave it in the mailbox for the next poll
            result.left += 1
            log.error("bounce intake failed; the message stays in the mailbox", exc_info=exc)
            continue
        done.append(uid)
        result.taken += 1
    return done

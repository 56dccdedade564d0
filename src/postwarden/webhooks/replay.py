"""Refusing replayed webhook requests.

A provider that signs a timestamp lets a receiver refuse an old request: without that, a
request captured once (a proxy log, a leaked capture) is valid forever. Mailgun signs only
the timestamp and a random token, not the event, so its documentation also asks receivers
to remember tokens and refuse one seen twice — otherwise one captured signature carries any
event an attacker writes. Seen tokens live in the database (:class:`SeenToken`), shared by
every process and node, until their timestamp is past the tolerance anyway.

Both refusals raise anymail's validation failure: the view answers 400 "refused".
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

from anymail.exceptions import AnymailWebhookValidationFailure
from django.db import IntegrityError, transaction
from django.utils import timezone

from postwarden.core.config.model import WebhookSettings
from postwarden.webhooks.models import SeenToken

#: seconds a signed timestamp may be from our clock, either way (POSTWARDEN_WEBHOOK_TOLERANCE);
#: the Standard Webhooks and Svix window
DEFAULT_TOLERANCE: Final = WebhookSettings().tolerance


def check_fresh(provider: str, stamp: str, tolerance: int, *, now: float | None = None) -> int:
    """The signed Unix timestamp ``stamp`` as an int; raises unless it is within
    ``tolerance`` seconds of ``now`` (past or future: a clock ahead of ours is no excuse
    for a request valid long after it was captured)."""
    try:
        moment = int(float(stamp))
    except (TypeError, ValueError, OverflowError):
        raise AnymailWebhookValidationFailure(
            f"{provider} signed timestamp {stamp!r} is not a number"
        ) from None
    skew = (time.time() if now is None else now) - moment
    if abs(skew) > tolerance:
        when = "old" if skew > 0 else "in the future"
        raise AnymailWebhookValidationFailure(
            f"{provider} signed timestamp is {abs(int(skew))} s {when} (tolerance {tolerance} s, "
            "POSTWARDEN_WEBHOOK_TOLERANCE): refused as a possible replay; check this machine's clock"
        )
    return moment


def consume(provider: str, token: str, stamp: str, tolerance: int) -> None:
    """Remember ``token`` (with its already checked timestamp ``stamp``); raises if it was
    seen before. Call inside the transaction that records the event, so a request that
    fails to record does not spend its token."""
    now = timezone.now()
    SeenToken.objects.filter(expires_at__lt=now).delete()
    until = datetime.fromtimestamp(int(float(stamp)) + tolerance, tz=UTC)
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction stays usable
            SeenToken.objects.create(provider=provider, token=token[:255], expires_at=until)
    except IntegrityError:
        raise AnymailWebhookValidationFailure(
            f"{provider} signature token seen before: refused as a replay"
        ) from None

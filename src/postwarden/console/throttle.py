"""Failed log-in throttling, per account and per client address.

Counted in :class:`~postwarden.console.models.LoginThrottle` rows with conditional
UPDATEs, so several web processes share the count (a per-process cache would let an
attacker multiply the budget by the number of processes). Fixed windows: simple, and
the lock-out ends by itself, so a victim is never locked out for longer than a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UsernameField
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from postwarden.console.models import LoginThrottle

WINDOW: Final = timedelta(minutes=15)
#: failures per account per window: enough for typos, far too few to guess a password
ACCOUNT_LIMIT: Final = 5
#: failures per client address per window: an office behind one NAT shares it
ADDRESS_LIMIT: Final = 20


@dataclass(frozen=True, slots=True)
class ThrottleVerdict:
    allowed: bool
    #: seconds until the oldest blocking window ends
    retry_after: int = 0


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: behind a reverse proxy named in POSTWARDEN_TRUSTED_PROXIES,
    # postwarden/proxies.py has set it to the client that proxy's X-Forwarded-For names;
    # from anyone else that header is dropped (it is whatever the client wants it to be).
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def account_key(username: str) -> str:
    """The account a log-in attempt is for, found as Django will find it: the log-in form's
    own normalization of the name (NFKC, stripped: ``ａｄｍｉｎ@…`` is ``admin@…``), then the
    backend's lookup. Counting any other spelling let a fullwidth one log in while the
    account was locked. A name no user has is counted by its case-folded form."""
    try:
        name = UsernameField().clean(username)
    except forms.ValidationError:
        name = ""
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: name}).first()
    return f"user:{user.pk}" if user is not None else f"account:{name.casefold()}"[:300]


def keys_for(username: str, address: str) -> dict[str, int]:
    return {account_key(username): ACCOUNT_LIMIT, f"ip:{address}": ADDRESS_LIMIT}


def check(username: str, address: str) -> ThrottleVerdict:
    """Whether a log-in attempt may even be tried. Reads only."""
    now = timezone.now()
    limits = keys_for(username, address)
    rows = LoginThrottle.objects.filter(key__in=limits, window_start__gt=now - WINDOW)
    waits = [
        int((row.window_start + WINDOW - now).total_seconds()) + 1
        for row in rows
        if row.failures >= limits[row.key]
    ]
    return ThrottleVerdict(allowed=not waits, retry_after=max(waits, default=0))


def record_failure(username: str, address: str) -> None:
    now = timezone.now()
    for key in keys_for(username, address):
        _bump(key, now)


def _bump(key: str, now: datetime) -> None:
    current = LoginThrottle.objects.filter(key=key, window_start__gt=now - WINDOW)
    if current.update(failures=F("failures") + 1):
        return
    # no row, or an expired window: start a new one (two processes may race here; the
    # loser of the insert retries the update, which then finds the winner's row)
    try:
        with transaction.atomic():
            updated = LoginThrottle.objects.filter(key=key).update(window_start=now, failures=1)
            if not updated:
                LoginThrottle.objects.create(key=key, window_start=now, failures=1)
    except IntegrityError:
        current.update(failures=F("failures") + 1)


def record_success(username: str) -> None:
    """A correct password clears the account's count (not the address's: one good
    account must not unlock guessing at the others from the same address)."""
    LoginThrottle.objects.filter(key=account_key(username)).delete()

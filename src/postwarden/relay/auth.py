"""Who may submit: an API key with the ``send`` scope as the SMTP password (any
username, as apps insist on sending one), and a brake on guessing.

The key is looked up on the database thread (:mod:`postwarden.relay.committer`); it
never reaches a log line, a reply or an exception text.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from postwarden.accounts.models import KEY_PREFIX, ApiKey, Scope, hash_key

#: last_used_at is for people ("used 3 minutes ago"), not an audit log
LAST_USED_RESOLUTION = timedelta(seconds=60)
#: a hash to compare against when no row matches, so unknown prefixes cost the same
_NO_KEY_HASH = hash_key("pw_none_none")


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated session: the API key's row id and name (never the key)."""

    key_id: int
    name: str

    def __repr__(self) -> str:
        return f"Identity(key_id={self.key_id}, name={self.name!r})"


def verify_key(password: str) -> Identity | None:
    """The identity of an active key with the ``send`` scope, else None. Database thread."""
    parts = password.split("_")
    prefix = parts[1] if len(parts) >= 3 and password.startswith(KEY_PREFIX) else None
    row = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first() if prefix else None
    expected = row.key_hash if row is not None else _NO_KEY_HASH
    matches = hmac.compare_digest(expected, hash_key(password))
    if row is None or not matches or not row.allows(Scope.SEND):
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    return Identity(row.pk, row.name)


@dataclass
class FailureThrottle:
    """At most ``limit`` failed AUTH attempts per client address within ``window``
    seconds; then AUTH from that address is refused until the oldest failure ages out.
    Counts failures only, so an app with a good key is never slowed down."""

    limit: int = 5
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    #: addresses remembered at most (a flood of addresses cannot exhaust memory)
    max_addresses: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, address: str) -> bool:
        recent = self._recent(address)
        return recent is not None and len(recent) >= self.limit

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= self.max_addresses:
            self._forget_old()
        self._failures.setdefault(address, deque(maxlen=self.limit)).append(self.clock())

    def _recent(self, address: str) -> deque[float] | None:
        recent = self._failures.get(address)
        if recent is None:
            return None
        horizon = self.clock() - self.window
        while recent and recent[0] < horizon:
            recent.popleft()
        if not recent:
            del self._failures[address]
            return None
        return recent

    def _forget_old(self) -> None:
        for address in list(self._failures):
            self._recent(address)
        if len(self._failures) >= self.max_addresses:
            self._failures.clear()

"""Who may submit: an API key with the ``send`` scope as the SMTP password (any
username, as apps insist on sending one), and a brake on guessing that throttles the
failing credential, never a correct key (:class:`FailureThrottle`).

The key is looked up on the database thread (:mod:`postwarden.outbox.groupcommit`); it
never reaches a log line, a reply or an exception text.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

from django.utils import timezone

from postwarden.accounts.models import KEY_PREFIX, ApiKey, Scope, hash_key

K = TypeVar("K")

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


def credential_digest(password: bytes) -> bytes:
    """What the throttle remembers of a password that failed: a hash, never the text."""
    return hashlib.sha256(b"postwarden-relay-auth\x00" + password).digest()


@dataclass
class _Recent(Generic[K]):
    """Failure times per key within ``window`` seconds, at most ``max_keys`` keys (a flood
    of keys cannot exhaust memory: the longest remembered is forgotten first)."""

    window: float
    clock: Callable[[], float]
    max_keys: int
    _times: dict[K, deque[float]] = field(default_factory=dict)

    def count(self, key: K) -> int:
        recent = self._times.get(key)
        if recent is None:
            return 0
        horizon = self.clock() - self.window
        while recent and recent[0] < horizon:
            recent.popleft()
        if not recent:
            del self._times[key]
        return len(recent)

    def add(self, key: K, keep: int) -> None:
        if key not in self._times and len(self._times) >= self.max_keys:
            # the key remembered longest goes (dicts keep insertion order): constant
            # time, so a flood of new keys costs no scan per failure
            del self._times[next(iter(self._times))]
        self._times.setdefault(key, deque(maxlen=keep)).append(self.clock())


@dataclass
class FailureThrottle:
    """A brake on guessing that never stops a correct key.

    A credential (a password, remembered as :func:`credential_digest`) that failed
    ``limit`` times within ``window`` seconds is refused without being looked up: an
    app with a stale key stops hammering, and the other apps on its address go on. An
    address that failed ``address_limit`` times (any credentials) has its sessions
    closed after each further failure, so guessing costs a connection per try; a
    correct key from it is still checked, and passes. Only failures are counted."""

    limit: int = 5
    window: float = 300.0
    address_limit: int = 20
    clock: Callable[[], float] = time.monotonic
    #: credentials and addresses remembered at most
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        self._credentials: _Recent[bytes] = _Recent(self.window, self.clock, self.max_keys)
        self._addresses: _Recent[str] = _Recent(self.window, self.clock, self.max_keys)

    def blocked(self, credential: bytes) -> bool:
        """Whether this credential failed too often to be looked up again for now."""
        return self._credentials.count(credential) >= self.limit

    def exhausted(self, address: str) -> bool:
        """Whether this address has used up its failures for the window."""
        return self._addresses.count(address) >= self.address_limit

    def failed(self, address: str, credential: bytes) -> None:
        self._credentials.add(credential, self.limit)
        self._addresses.add(address, self.address_limit)

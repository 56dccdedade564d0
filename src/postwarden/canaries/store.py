"""Registering, changing and removing canary mailboxes: the one path for the API, the
console and the CLI. The IMAP password is sealed before it is stored and unsealed only
where a session needs it (:func:`endpoint`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from postwarden.canaries.models import Canary, MailboxSecurity
from postwarden.configstore.runtime import sealer
from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.core.imap import ImapEndpoint
from postwarden.core.imap import ImapSecurity as ImapSecurity
from postwarden.core.secrets import Secret
from postwarden.logs import register_secret

#: issue #14: hourly unless said otherwise, never more often than every 5 minutes
DEFAULT_INTERVAL: Final = 60
MIN_INTERVAL: Final = 5
MAX_INTERVAL: Final = 7 * 24 * 60
DEFAULT_DEADLINE: Final = 10
#: the deadline must leave a run time to finish before the next one starts
MAX_DEADLINE: Final = 24 * 60
DEFAULT_SLOW_SECONDS: Final = 300
IMAP_TIMEOUT: Final = 30.0
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST: Final = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")


class InvalidCanary(ValueError):
    """Bad input for a canary: ``field`` names it, the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CanaryInput:
    address: str
    imap_host: str
    imap_port: int | None
    imap_security: str
    imap_user: str
    #: None on a change: keep the stored one
    imap_password: str | None
    interval_minutes: int = DEFAULT_INTERVAL
    name: str = ""
    deadline_minutes: int = DEFAULT_DEADLINE
    slow_seconds: int = DEFAULT_SLOW_SECONDS
    delete_found: bool = True
    enabled: bool = True


def create(data: CanaryInput, *, now: datetime | None = None) -> Canary:
    """A new canary, first run due now. Raises :class:`InvalidCanary`."""
    now = now or timezone.now()
    canary = Canary(key=f"pwc{secrets.token_hex(6)}", next_run_at=now, created_at=now, updated_at=now)
    _apply(canary, data, new=True)
    try:
        with transaction.atomic():
            canary.save()
    except IntegrityError:
        raise InvalidCanary("name", f"a canary named {canary.name!r} exists already") from None
    return canary


def update(canary: Canary, data: CanaryInput, *, now: datetime | None = None) -> Canary:
    """Change a canary; a new interval counts from its last run. Raises :class:`InvalidCanary`."""
    before = canary.interval_minutes
    _apply(canary, data, new=False)
    canary.updated_at = now or timezone.now()
    if canary.interval_minutes != before and canary.last_run is not None:
        canary.next_run_at = canary.last_run.started_at + timedelta(minutes=canary.interval_minutes)
    try:
        with transaction.atomic():
            canary.save()
    except IntegrityError:
        raise InvalidCanary("name", f"a canary named {canary.name!r} exists already") from None
    return canary


def request_run(canary: Canary) -> bool:
    """Ask for a run at the next pass ("Run now"). False when one is running already."""
    if canary.runs.filter(state="waiting").exists():
        return False
    Canary.objects.filter(pk=canary.pk).update(run_requested=True)
    canary.run_requested = True
    return True


def endpoint(canary: Canary) -> ImapEndpoint:
    """The IMAP endpoint with the unsealed password (registered for log redaction)."""
    password = sealer().unseal(canary.imap_password)
    register_secret(password.reveal())
    return ImapEndpoint(
        host=canary.imap_host,
        port=canary.imap_port,
        security=ImapSecurity(canary.imap_security),
        user=canary.imap_user,
        password=password,
        timeout=IMAP_TIMEOUT,
    )


def _apply(canary: Canary, data: CanaryInput, *, new: bool) -> None:
    canary.address = _address(data.address)
    canary.imap_host = _host(data.imap_host)
    canary.imap_security = _security(data.imap_security)
    canary.imap_port = _port(data.imap_port, canary.imap_security)
    canary.imap_user = data.imap_user.strip()
    if not canary.imap_user or len(canary.imap_user) > 320:
        raise InvalidCanary("imap_user", "imap_user is required (at most 320 characters)")
    if data.imap_password is not None or new:
        if not data.imap_password:
            raise InvalidCanary("imap_password", "imap_password is required")
        if len(data.imap_password) > 1000 or "\x00" in data.imap_password:
            raise InvalidCanary("imap_password", "imap_password is too long or holds a NUL character")
        canary.imap_password = sealer().seal(Secret(data.imap_password))
    canary.interval_minutes = _bounded("interval_minutes", data.interval_minutes, MIN_INTERVAL, MAX_INTERVAL)
    canary.deadline_minutes = _bounded("deadline_minutes", data.deadline_minutes, 1, MAX_DEADLINE)
    canary.slow_seconds = _bounded("slow_seconds", data.slow_seconds, 1, MAX_DEADLINE * 60)
    canary.delete_found = bool(data.delete_found)
    canary.enabled = bool(data.enabled)
    canary.name = _name(data.name, canary)


def _address(text: str) -> str:
    # the outbox's own parser: an address it would refuse to send to is refused here
    try:
        return parse_address(text.strip(), allow_display_name=False).addr_spec
    except InvalidAddress as exc:
        raise InvalidCanary("address", f"address: {exc}") from None


def _host(text: str) -> str:
    host = text.strip()
    if not _HOST.fullmatch(host):
        raise InvalidCanary("imap_host", "imap_host must be a host name or an IP address")
    return host


def _security(text: str) -> str:
    if text not in MailboxSecurity.values:
        raise InvalidCanary(
            "imap_security", f"imap_security must be one of {', '.join(MailboxSecurity.values)}, not {text!r}"
        )
    return text


def _port(port: int | None, security: str) -> int:
    if port is None:
        return 993 if security == MailboxSecurity.SSL else 143
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidCanary("imap_port", f"imap_port must be 1-65535, not {port}")
    return port


def _bounded(field: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidCanary(field, f"{field} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _name(wanted: str, canary: Canary) -> str:
    """The given name, or the address's domain (unique with a number): a label for
    /metrics that is not an address."""
    if wanted:
        if not _NAME.fullmatch(wanted):
            raise InvalidCanary(
                "name", "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return wanted
    if canary.name:
        return canary.name
    base = canary.address.rsplit("@", 1)[-1].lower()[:60]
    taken = set(Canary.objects.filter(name__startswith=base).values_list("name", flat=True))
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate

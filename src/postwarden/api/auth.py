"""API keys: ``Authorization: Bearer pw_…`` (or ``X-Api-Key``). Keys are hashed at rest;
each route states the scope it needs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyHeader, HttpBearer

from postwarden.accounts.models import ApiKey, hash_key

#: last_used_at is for people ("used 3 minutes ago"); writing it on every request would
#: add a write per API call, so it is refreshed at most this often
LAST_USED_RESOLUTION = timedelta(seconds=60)


def lookup(key: str) -> ApiKey | None:
    """The active key for ``key``, or None. Constant work for unknown prefixes."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "pw":
        return None
    row = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if row is None or not _same(row.key_hash, hash_key(key)):
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


class _ScopeMixin:
    scope: str

    def check(self, request: HttpRequest, key: str | None) -> Any:
        row = lookup(key or "")
        if row is None or not row.allows(self.scope):
            return None
        request.api_key = row  # type: ignore[attr-defined]
        return row


class BearerKey(_ScopeMixin, HttpBearer):
    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return self.check(request, token)


class HeaderKey(_ScopeMixin, APIKeyHeader):
    param_name = "X-Api-Key"

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return self.check(request, key)


def scope(name: str) -> list[Any]:
    """``auth=scope("send")`` on a route."""
    return [BearerKey(name), HeaderKey(name)]

"""API keys: ``Authorization: Bearer pw_…`` (or ``X-Api-Key``). Keys are hashed at rest;
each route states the scope it needs. No key, or an unknown or revoked one: 401. A valid
key without the route's scope: 403 naming the scope (:class:`MissingScope`, answered by
api.py), so a client can tell "wrong key" from "this key may not do that"."""

from __future__ import annotations

import threading
import time
from typing import Any, Final

from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyHeader, HttpBearer

from postwarden.accounts.models import ApiKey, hash_key

#: last_used_at is for people ("used 3 minutes ago"); writing it on every request would
#: add a write per API call, so each process refreshes it at most this often (seconds)
LAST_USED_RESOLUTION: Final = 60.0
#: ApiKey instances kept, keyed by the row's columns as read on THIS request
_CACHE_SIZE: Final = 256

_instances: dict[tuple[Any, ...], ApiKey] = {}
_touched: dict[int, float] = {}
_touch_lock = threading.Lock()


def lookup(key: str) -> ApiKey | None:
    """The active key for ``key``, or None. Constant work for unknown prefixes.

    Every call reads the key's row (so a revoked key or a changed scope counts from the
    next request on, in every process) with one plain statement: the ORM compiled the
    same query anew on every request (more than the enqueue of a message costs). The
    model instance is reused while the row's columns read back unchanged."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "pw":
        return None
    found = _row(parts[1])
    if found is None or found[3] is not None or not _same(found[1], hash_key(key)):
        return None
    row = _instance(found)
    _touch(row.pk)
    return row


def _row(prefix: str) -> tuple[Any, ...] | None:
    """``(id, key_hash, scopes, revoked_at, name)`` of the key with this prefix."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote('id')}, {quote('key_hash')}, {quote('scopes')}, {quote('revoked_at')}, "  # noqa: S608
        f"{quote('name')} FROM {quote(ApiKey._meta.db_table)} WHERE {quote('prefix')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        found = cursor.fetchone()
    return tuple(found) if found is not None else None


def _instance(found: tuple[Any, ...]) -> ApiKey:
    # repr: PostgreSQL's driver may give scopes as a list (unhashable), SQLite as text
    cache_key = (found[0], found[1], repr(found[2]), found[4])
    row = _instances.get(cache_key)
    if row is None:
        row = ApiKey.objects.get(pk=found[0])
        if len(_instances) >= _CACHE_SIZE:
            _instances.clear()
        _instances[cache_key] = row
    return row


def _touch(pk: int) -> None:
    moment = time.monotonic()
    with _touch_lock:
        if moment - _touched.get(pk, -LAST_USED_RESOLUTION - 1) <= LAST_USED_RESOLUTION:
            return
        _touched[pk] = moment
    ApiKey.objects.filter(pk=pk).update(last_used_at=timezone.now())


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


class MissingScope(Exception):
    """A valid, active API key without the scope a route needs."""

    def __init__(self, scope: str) -> None:
        self.scope = str(scope)  # a Scope member's repr is not its word
        super().__init__(f"this API key lacks the scope {self.scope!r} this route needs")


class _ScopeMixin:
    scope: str

    def check(self, request: HttpRequest, key: str | None) -> Any:
        row = lookup(key or "")
        if row is None:
            return None
        if not row.allows(self.scope):
            raise MissingScope(self.scope)
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

"""The settings in force right now: flags > environment > .env > saved in the console.

Web, worker and relay call :func:`current_settings` when they need to know where mail
goes; it is cheap when nothing changed (one indexed query) and re-resolves when an admin
saved something, so a console change reaches the worker without a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from postwarden.configstore.models import StoredSetting
from postwarden.core.config.model import Settings
from postwarden.core.config.resolve import resolve_environment
from postwarden.core.config.stored import unsealed
from postwarden.core.config.variables import BY_NAME
from postwarden.core.sealing import Sealer
from postwarden.core.secrets import Secret
from postwarden.logs import register_secret

log = logging.getLogger("postwarden.configstore")
_cache_lock = threading.Lock()
_cache: dict[str, object] = {}


def sealer() -> Sealer:
    # SECRET_KEY is POSTWARDEN_SECRET_KEY or the key generated into the data directory
    return Sealer(Secret(django_settings.SECRET_KEY))


def stored_values() -> dict[str, str]:
    """Saved values, secrets unsealed (and registered for log redaction)."""
    rows = StoredSetting.objects.values_list("name", "value", "sealed")
    return unsealed(rows, sealer, register_secret)


def _version() -> tuple[object, ...]:
    # One plain statement: every API request asks this, and the ORM's aggregate() compiled
    # the query anew each time (as much as the rest of a request; issue #7). The
    # values are only compared with the previous ones, so the driver's raw types will do.
    quote = connection.ops.quote_name
    table = quote(StoredSetting._meta.db_table)
    sql = f"SELECT COUNT({quote('name')}), MAX({quote('updated_at')}) FROM {table}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return (row[0], row[1])


def current_settings(
    *, flags: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Resolve now. ``overrides`` replace saved values (the console tests unsaved form
    values this way; the environment still wins, as the form shows it read-only)."""
    if flags or overrides is not None:
        stored = {**stored_values(), **(overrides or {})}
        return resolve_environment(flags=flags, stored=stored)
    version = _version()
    with _cache_lock:
        if _cache.get("version") == version and "settings" in _cache:
            return _cache["settings"]  # type: ignore[return-value]
    resolved = resolve_environment(stored=stored_values())
    for secret in _secrets_of(resolved):
        register_secret(secret)
    with _cache_lock:
        _cache["version"], _cache["settings"] = version, resolved
    return resolved


def _secrets_of(resolved: Settings) -> list[str]:
    found = [resolved.smtp.password.reveal(), resolved.signing.private_key.reveal()]
    found += [s.reveal() for s in resolved.provider.secrets.values()]
    return [s for s in found if s]


@transaction.atomic
def save(values: Mapping[str, str], user: object | None = None) -> None:
    """Store console values. An empty value removes the saved one; unknown or
    environment-only names are refused (ValueError)."""
    box = sealer()
    now = timezone.now()
    for name, value in values.items():
        var = BY_NAME.get(name)
        if var is None or not var.storable:
            raise ValueError(f"{name} cannot be saved in the console")
        if value == "":
            StoredSetting.objects.filter(name=name).delete()
            continue
        stored = box.seal(value) if var.secret else value
        StoredSetting.objects.update_or_create(
            name=name,
            defaults={
                "value": stored,
                "sealed": var.secret,
                "updated_at": now,
                "updated_by_id": getattr(user, "pk", None),
            },
        )


_REFRESH_TOKEN = "OAUTH2_REFRESH_TOKEN"  # noqa: S105 - a setting's name


def save_rotated_refresh_token(token: Secret, issued_at: float) -> bool:
    """Save a refresh token the identity platform rotated, sealed, over the saved one
    only if that one is older: one conditional UPDATE, so of several workers rotating at
    once the newest token stays, whatever order the writes land in. Nothing is saved when
    the token is not kept here (set in the environment or .env: the operator's to change).
    Whether it was saved."""
    issued = dt.datetime.fromtimestamp(issued_at, dt.UTC)
    register_secret(token.reveal())
    with transaction.atomic():
        updated = StoredSetting.objects.filter(name=_REFRESH_TOKEN, updated_at__lt=issued).update(
            value=sealer().seal(token.reveal()), sealed=True, updated_at=issued, updated_by=None
        )
    if not updated:
        log.info("rotated OAuth2 refresh token not saved: none saved here, or a newer one is")
    return bool(updated)

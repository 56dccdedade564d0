"""Service-level helpers around resolved settings: the generated secret key and the
settings fingerprint that makes web/worker drift visible (docs/spec/doctor.md config.process_drift)."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from postwarden.core.config.builders import SECRET_KEY_FILE
from postwarden.core.config.model import Settings
from postwarden.core.config.variables import VARIABLES
from postwarden.core.secrets import Secret

#: the file the start-up lock (:func:`data_dir_lock`) is taken on
LOCK_FILE = ".start-up.lock"

#: settings that describe where and how mail is sent; a worker and a web process that
#: disagree on any of these deliver differently from what the console shows
_FINGERPRINTED = tuple(v.name for v in VARIABLES if v.section.value != "service")


def ensure_secret_key(settings: Settings) -> Secret:
    """The configured key, else the one generated into the data directory, else a new one
    written there with mode 0600 (docs/spec/config.md: "generated once into the data directory")."""
    if settings.service.secret_key:
        return settings.service.secret_key
    data_dir = settings.service.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    key = secrets.token_urlsafe(48)
    # written whole under a private name, then linked into place: a process starting at
    # the same moment finds either no file or the whole key, never an empty one
    draft = data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:  # another process won the race: use its key
        return Secret(path.read_text(encoding="utf-8").strip())
    finally:
        with suppress(FileNotFoundError):
            draft.unlink()
    return Secret(key)


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's start-up lock (blocking): work that must happen once per
    install (migrations, the first admin, generated certificates) runs under it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def fingerprint(settings: Settings, key: Secret) -> str:
    """A short keyed digest of the sending settings. Secrets enter only through the HMAC,
    so the stored fingerprint reveals nothing about a low-entropy password."""
    raw = _raw_values(settings)
    payload = json.dumps(raw, sort_keys=True).encode()
    return hmac.new(key.reveal().encode(), payload, hashlib.sha256).hexdigest()[:16]


def _raw_values(settings: Settings) -> dict[str, str]:
    smtp, sending, provider, signing = settings.smtp, settings.sending, settings.provider, settings.signing
    values = {
        "EMAIL_PROVIDER": sending.provider.value,
        "EMAIL_ENABLED": str(sending.enabled),
        "MAIL_FROM": sending.from_address or "",
        "MAIL_FROM_NAME": sending.from_name or "",
        "MAIL_REPLY_TO": sending.reply_to or "",
        "MAIL_RECIPIENT_MODE": sending.recipient_mode.value,
        "MAIL_ALLOWED_DOMAINS": ",".join(sending.allowed_domains),
        "SMTP_HOST": smtp.host or "",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": smtp.security.value,
        "SMTP_USER": smtp.user or "",
        "SMTP_PASSWORD": smtp.password.reveal(),
        "SMTP_TLS_VERIFY": str(smtp.verify_certificate),
        "DKIM_SELECTOR": signing.selector or "",
        "DKIM_PRIVATE_KEY": signing.private_key.reveal(),
    }
    values.update({name: secret.reveal() for name, secret in provider.secrets.items()})
    values.update(provider.options)
    values["PROVIDER_API_URL"] = provider.api_url or ""
    return values


def fingerprinted_variables() -> tuple[str, ...]:
    return _FINGERPRINTED

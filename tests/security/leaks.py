"""Distinctive secret values and every recognisable form of them, for the secrets sweep.

Each value starts with its own 10 characters that occur nowhere else, so finding its first
8 characters in an output is finding the secret, not a coincidence. The forms looked for:
the value, its first 8 and last 12 characters, its URL-encoded and JSON-escaped forms, and base64 of it
wherever it sits in an encoded payload (AUTH PLAIN sends ``\\0user\\0password``, AUTH LOGIN
the password alone; base64 of a substring depends on its offset modulo 3, so the three
alignments are covered). The masked form the console shows (``••••`` and at most the last
four characters) is not a leak.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postwarden.core.dkim import generate_key

#: storable secrets seeded in the console's settings store (sealed at rest)
STORED: dict[str, str] = {
    "SMTP_PASSWORD": "Qv7sMtPpw1-smtp-password/+= &!%do-not-leak",
    "SENDGRID_API_KEY": "SG.Kx4sGaPk2-sendgrid-key-do-not-leak",
    "POSTMARK_SERVER_TOKEN": "Pm8tOkNn3-postmark-token-do-not-leak",
    "AWS_SECRET_ACCESS_KEY": "Aw5sEcRt4-aws-secret/key+do-not-leak",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "Mg6wHsKy5-mailgun-signing-do-not-leak",
    # an alert destination (apprise URL) on a port where nothing listens: the test alert fails
    "POSTWARDEN_ALERT_URLS": "json://127.0.0.1:9/Al3rTtOk7-alert-url-token-do-not-leak",
    "RESEND_WEBHOOK_SECRET": "whsec_Rs9wHsCt6cmVzZW5kLXNlY3JldC1kby1ub3Q=",
    # shadowed by the environment's value below: must not show either
    "MAILGUN_API_KEY": "Mg2sToRe7-mailgun-key-in-the-store-do-not-leak",
}
#: secrets given in the environment (the last two cannot be stored by design)
ENVIRONMENT: dict[str, str] = {
    "MAILGUN_API_KEY": "Mg3eNvKy8-mailgun-key-from-env-do-not-leak",
    "RESEND_API_KEY": "re_Rs4eNvKy9-resend-key-do-not-leak",
    "MANDRILL_API_KEY": "Md5eNvKy0-mandrill-key-do-not-leak",
    "POSTWARDEN_WEBHOOK_SECRET": "hookuser:Wh6bAsIc1-basic-auth-secret-do-not-leak",
    "MANDRILL_WEBHOOK_KEY": "Md7wHkKy2-mandrill-webhook-do-not-leak",
    # a real public key: anything else is refused at start (core/config/parse.py); its
    # first characters are the DER prefix of every P-256 key, which no page shows otherwise
    "SENDGRID_WEBHOOK_VERIFICATION_KEY": base64.b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode(),
    "POSTWARDEN_SECRET_KEY": "Dj9sEcRk4-django-secret-key-0123456789-do-not-leak",
    "POSTWARDEN_ADMIN_PASSWORD": "Ad0mInPw5-admin-password-do-not-leak",
}
SMTP_USER = "ops-user"
#: a password tried at the log-in page that is not the right one
WRONG_PASSWORD = "Wr1nGpW6-a-guess-that-must-not-be-logged"


@dataclass(frozen=True)
class Secret:
    label: str
    value: str


@dataclass(frozen=True)
class Leak:
    surface: str
    secret: str
    form: str


def dkim_key() -> str:
    """A real private key (the signing path must work with it), made once per run."""
    global _DKIM
    if _DKIM is None:
        _DKIM = generate_key(1024).reveal()
    return _DKIM


_DKIM: str | None = None


def seeded(*more: Secret) -> list[Secret]:
    found = [Secret(f"store:{k}", v) for k, v in STORED.items()]
    found += [Secret(f"env:{k}", v) for k, v in ENVIRONMENT.items()]
    found += [Secret("wrong login password", WRONG_PASSWORD)]
    return found + list(more)


def forms(secret: Secret) -> dict[str, str]:
    """Recognisable forms of ``secret``: name -> text to look for."""
    value = secret.value
    if "PRIVATE KEY" in value:
        # a PEM key: every full line of its base64 body (its first 8 characters are the
        # same in every key, "MIICXAIB…", so only whole lines say "this key")
        lines = [line for line in value.strip().splitlines() if not line.startswith("-----")]
        return {f"pem line {i}": line for i, line in enumerate(lines) if len(line) >= 32}
    found = {
        "value": value,
        "first 8": value[:8],
        # a tail shown "for recognition" (more than the console's four characters)
        "last 12": value[-12:],
        "url-encoded": quote(value, safe=""),
        "form-encoded": quote_plus(value),
        "json": json.dumps(value)[1:-1],
    }
    for offset in range(3):
        # base64 of the value after ``offset`` bytes: drop the characters that mix in the
        # neighbours' bits, keep a stretch only this value produces
        encoded = base64.b64encode(b"\0" * offset + value.encode()).decode()
        found[f"base64+{offset}"] = encoded[4 : 4 + min(16, len(encoded) - 8)]
    found["auth plain"] = base64.b64encode(f"\0{SMTP_USER}\0{value}".encode()).decode()
    return found


def find(surface: str, text: str, secrets: Iterable[Secret]) -> list[Leak]:
    return [
        Leak(surface, secret.label, name)
        for secret in secrets
        for name, form in forms(secret).items()
        if form and form in text
    ]


def sweep(outputs: Mapping[str, str], secrets: Iterable[Secret]) -> list[Leak]:
    """Every (surface, secret, form) found; [] when nothing leaked."""
    listed = list(secrets)
    return [leak for surface, text in outputs.items() for leak in find(surface, text, listed)]

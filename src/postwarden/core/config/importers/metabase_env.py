"""Metabase's ``MB_EMAIL_*`` environment variables, read as Metabase uses them.

What Metabase does on the wire (docs/reference/mission-anchors.md §1.2): its security value goes to
JavaMail through drewr/postal: ``none`` is plain text, ``ssl`` is implicit TLS (protocol
``smtps``), ``tls`` only sets ``mail.smtp.starttls.enable`` — STARTTLS when the server
offers it, else plain text — and ``starttls`` also sets ``starttls.required``.
Metabase's defaults apply when a variable is unset: security ``none``, From
``notifications@metabase.com``, recipients in Bcc.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Final

from postwarden.core.addresses import split_address_list
from postwarden.core.config.importers.base import Imported, as_bool, set_from

SECURITY: Final[Mapping[str, str]] = {
    "none": "none",
    "ssl": "ssl",
    "tls": "opportunistic",
    "starttls": "starttls",
}
#: JavaMail's port for each protocol when Metabase is given none
_JAVAMAIL_PORT: Final[Mapping[str, str]] = {"ssl": "465"}
_DEFAULT_FROM: Final = "notifications@metabase.com"
#: PR metabase#59330 makes Metabase refuse these in the From name
_REFUSED_IN_NAME: Final = set('()<>[]:;@/\\,."')
#: a Python-style list in an environment variable is short; refuse to evaluate more
_MAX_LIST_TEXT: Final = 10_000

_PLAIN: Final[tuple[tuple[str, str], ...]] = (
    ("MB_EMAIL_SMTP_HOST", "SMTP_HOST"),
    ("MB_EMAIL_SMTP_PORT", "SMTP_PORT"),
    ("MB_EMAIL_SMTP_USERNAME", "SMTP_USER"),
    ("MB_EMAIL_SMTP_PASSWORD", "SMTP_PASSWORD"),
    ("MB_SITE_URL", "APP_URL"),
)


def load_metabase_env(environ: Mapping[str, str]) -> Imported:
    """Translate ``MB_EMAIL_*`` (and ``MB_SITE_URL``) from ``environ``. Never raises for a
    value: what cannot be translated is left out with a note."""
    env = {key: value.strip() for key, value in environ.items() if key.startswith("MB_") and value.strip()}
    result = Imported()
    for theirs, ours in _PLAIN:
        if theirs in env:
            result.set(ours, env[theirs], theirs)
    configured = "MB_EMAIL_SMTP_HOST" in env
    if not configured:
        result.note(
            "MB_EMAIL_SMTP_HOST is not set, so Metabase counts email as not configured; its email "
            "settings may be saved in Metabase's own database (Admin › Settings › Email), which "
            "cannot be read from here"
        )
    security = _security(env, result, configured)
    if configured and "MB_EMAIL_SMTP_PORT" not in env and security is not None:
        port = _JAVAMAIL_PORT.get(security, "25")
        result.set("SMTP_PORT", port, "MB_EMAIL_SMTP_PORT (unset: JavaMail's default)")
        result.note(f"MB_EMAIL_SMTP_PORT is not set: JavaMail then uses port {port}")
    _sender(env, result, configured)
    _reply_to(env, result)
    _recipients(env, result)
    return result


def _security(env: Mapping[str, str], result: Imported, configured: bool) -> str | None:
    raw = env.get("MB_EMAIL_SMTP_SECURITY")
    if raw is None:
        if configured:
            result.set("SMTP_SECURITY", "none", "MB_EMAIL_SMTP_SECURITY (unset: Metabase's default)")
            result.note("MB_EMAIL_SMTP_SECURITY is not set: Metabase's default is none (plain text)")
            return "none"
        return None
    word = raw.lower().removeprefix(":")
    ours = SECURITY.get(word)
    if ours is None:
        result.note(
            f"MB_EMAIL_SMTP_SECURITY={raw!r} is not a value Metabase accepts (none, ssl, tls, starttls); "
            "not imported"
        )
        return None
    result.set("SMTP_SECURITY", ours, "MB_EMAIL_SMTP_SECURITY")
    if word == "tls":
        result.note(
            "MB_EMAIL_SMTP_SECURITY=tls means opportunistic STARTTLS in Metabase (upgrade when the server "
            "offers it, else continue in plain text): imported as SMTP_SECURITY=opportunistic"
        )
    return ours


def _sender(env: Mapping[str, str], result: Imported, configured: bool) -> None:
    name = env.get("MB_EMAIL_FROM_NAME")
    address = env.get("MB_EMAIL_FROM_ADDRESS")
    if address is not None:
        set_from(result, address, "MB_EMAIL_FROM_ADDRESS", name_given=name is not None)
    elif configured:
        result.set("MAIL_FROM", _DEFAULT_FROM, "MB_EMAIL_FROM_ADDRESS (unset: Metabase's default)")
        result.note(
            f"MB_EMAIL_FROM_ADDRESS is not set: Metabase sends from {_DEFAULT_FROM}, which your mail "
            "server or provider will most likely refuse; set MAIL_FROM"
        )
    if name is not None:
        result.set("MAIL_FROM_NAME", name, "MB_EMAIL_FROM_NAME")
        if _REFUSED_IN_NAME & set(name):
            result.note(
                "MB_EMAIL_FROM_NAME contains characters recent Metabase versions refuse "
                '(()<>[]:;@/\\,."); Postwarden quotes or encodes them correctly'
            )


def _reply_to(env: Mapping[str, str], result: Imported) -> None:
    raw = env.get("MB_EMAIL_REPLY_TO")
    if raw is None:
        return
    addresses = _address_list(raw)
    if addresses is None:
        result.note(
            'MB_EMAIL_REPLY_TO is not a list Metabase can read (expected like ["a@example.com"]); '
            "not imported"
        )
        return
    if not addresses:
        return
    result.set("MAIL_REPLY_TO", addresses[0], "MB_EMAIL_REPLY_TO")
    if len(addresses) > 1:
        rest = ", ".join(addresses[1:])
        result.note(
            f"MB_EMAIL_REPLY_TO lists {len(addresses)} addresses; MAIL_REPLY_TO takes one, so "
            f"{addresses[0]} is used and {rest} left out"
        )


def _address_list(raw: str) -> list[str] | None:
    """``["a@b"]`` (JSON), ``['a@b']`` (as Metabase's docs write it) or plain ``a@b, c@d``."""
    if not raw.startswith("["):
        return split_address_list(raw)
    parsed: object
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        if len(raw) > _MAX_LIST_TEXT:
            return None
        try:
            # literals only: a Python-style list of strings, never code
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return None
    return [item.strip() for item in parsed if item.strip()]


def _recipients(env: Mapping[str, str], result: Imported) -> None:
    raw = env.get("MB_BCC_ENABLED")
    if raw is not None:
        enabled = as_bool(raw)
        if enabled is None:
            result.note(f"MB_BCC_ENABLED={raw!r} is neither true nor false; not imported")
        else:
            result.set("MAIL_RECIPIENT_MODE", "bcc" if enabled else "cc", "MB_BCC_ENABLED")
    domains = env.get("MB_SUBSCRIPTION_ALLOWED_DOMAINS")
    if domains is not None:
        cleaned = ",".join(d.strip() for d in domains.split(",") if d.strip())
        result.set("MAIL_ALLOWED_DOMAINS", cleaned, "MB_SUBSCRIPTION_ALLOWED_DOMAINS")
        result.note(
            "MB_SUBSCRIPTION_ALLOWED_DOMAINS is a Metabase Enterprise setting; as in Metabase, it "
            "applies to new subscriptions, not existing ones"
        )

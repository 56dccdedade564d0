"""A Mattermost ``config.json`` (``EmailSettings``), read as Mattermost uses it.

What Mattermost does on the wire (docs/reference/mission-anchors.md §2.2, ``server/public/shared/mail``):
``ConnectionSecurity`` ``""``/``"PLAIN"`` is plain text, ``"TLS"`` is *implicit* TLS
(``tls.Dial``), ``"STARTTLS"`` upgrades after EHLO. ``MM_EMAILSETTINGS_<FIELD>``
environment variables override the file, as in Mattermost. Absent fields take
Mattermost's defaults (``model/config.go``: server ``localhost``, port ``10025``, From
and Reply-To ``test@example.com``, notifications on), because that is what it sends with.
The EHLO name is the host of ``ServiceSettings.SiteURL``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from postwarden.core.config.importers.base import Imported, ImporterError, as_bool, bool_text, set_from

SECURITY: Final[Mapping[str, str]] = {"": "none", "PLAIN": "none", "TLS": "ssl", "STARTTLS": "starttls"}
#: model/config.go SetDefaults; EnableSMTPAuth's default depends on ConnectionSecurity
DEFAULTS: Final[Mapping[str, object]] = {
    "SMTPServer": "localhost",
    "SMTPPort": "10025",
    "ConnectionSecurity": "",
    "FeedbackEmail": "test@example.com",
    "FeedbackName": "",
    "ReplyToAddress": "test@example.com",
    "SendEmailNotifications": True,
    "SkipServerCertificateVerification": False,
    "SMTPServerTimeout": 10,
}
_PLACEHOLDER: Final = "test@example.com"
#: config.json files are small; a huge one is not a Mattermost configuration
_MAX_BYTES: Final = 16 * 1024 * 1024


class _Reader:
    """Looks a field up: environment override, then the file, then Mattermost's default."""

    def __init__(self, section: str, fields: Mapping[str, object], environ: Mapping[str, str]) -> None:
        self.section, self.fields, self.environ = section, fields, environ

    def get(self, name: str, default: object = None) -> tuple[object, str]:
        env_name = f"MM_{self.section.upper()}_{name.upper()}"
        if self.environ.get(env_name, "").strip():
            return self.environ[env_name], env_name
        if name in self.fields and self.fields[name] is not None:
            return self.fields[name], f"{self.section}.{name}"
        return default, f"{self.section}.{name} (unset: Mattermost's default)"


def load_mattermost(path: str, environ: Mapping[str, str]) -> Imported:
    """Translate the ``EmailSettings`` of the config.json at ``path`` (``MM_EMAILSETTINGS_*``
    in ``environ`` win). Raises :class:`ImporterError` when the file cannot be read or
    is not a Mattermost configuration."""
    config = _read(path)
    email = _Reader("EmailSettings", _section(config, "EmailSettings", path), environ)
    result = Imported()
    security = _security(email, result)
    _server(email, result)
    _auth(email, result, security)
    _sender(email, result)
    _switches(email, result)
    _site_url(_Reader("ServiceSettings", _section(config, "ServiceSettings", path), environ), result)
    return result


def _read(path: str) -> Mapping[str, object]:
    file = Path(path)
    try:
        if file.stat().st_size > _MAX_BYTES:
            raise ImporterError(f"{path} is too large to be a Mattermost config.json")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImporterError(f"{path}: no such file (give the path of Mattermost's config.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ImporterError(f"{path} cannot be read: {reason}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        # the position only: the text around it may be a password
        raise ImporterError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(config, dict):
        raise ImporterError(f"{path} is not a Mattermost config.json (expected a JSON object)")
    return config


def _section(config: Mapping[str, object], name: str, path: str) -> Mapping[str, object]:
    section = config.get(name, {})
    if not isinstance(section, dict):
        raise ImporterError(f"{path}: {name} is not a JSON object")
    return section


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _security(email: _Reader, result: Imported) -> str | None:
    raw, origin = email.get("ConnectionSecurity", DEFAULTS["ConnectionSecurity"])
    ours = SECURITY.get(_text(raw))
    if ours is None:
        result.note(f'{origin}={raw!r} is not a value Mattermost accepts ("", TLS, STARTTLS); not imported')
        return None
    result.set("SMTP_SECURITY", ours, origin)
    if ours == "ssl":
        result.note(
            f"{origin}=TLS means implicit TLS in Mattermost (TLS from the first byte, usually "
            "port 465): imported as SMTP_SECURITY=ssl"
        )
    return ours


def _server(email: _Reader, result: Imported) -> None:
    for field, ours in (
        ("SMTPServer", "SMTP_HOST"),
        ("SMTPPort", "SMTP_PORT"),
        ("SMTPServerTimeout", "SMTP_TIMEOUT"),
    ):
        value, origin = email.get(field, DEFAULTS[field])
        if _text(value):
            result.set(ours, _text(value), origin)
    if result.values.get("SMTP_HOST") == "localhost" and result.values.get("SMTP_PORT") == "10025":
        result.note(
            "SMTPServer and SMTPPort are Mattermost's placeholders (localhost:10025); Mattermost "
            "refuses to send invitations with them"
        )


def _auth(email: _Reader, result: Imported, security: str | None) -> None:
    enabled_raw, origin = email.get("EnableSMTPAuth", security not in (None, "none"))
    enabled = as_bool(enabled_raw)
    user, user_origin = email.get("SMTPUsername", "")
    password, password_origin = email.get("SMTPPassword", "")
    if enabled is None:
        result.note(f"{origin} is neither true nor false; the credentials are not imported")
        return
    if not enabled:
        if _text(user) or _text(password):
            result.note(
                f"{origin} is false: Mattermost does not log in, so SMTPUsername and SMTPPassword "
                "are not imported"
            )
        return
    if _text(user):
        result.set("SMTP_USER", _text(user), user_origin)
    if isinstance(password, str) and password:
        result.set("SMTP_PASSWORD", password, password_origin)
    if security == "starttls":
        result.note(
            "Mattermost ignores a failed STARTTLS and goes on in plain text (its login then "
            "refuses an unencrypted connection); Postwarden requires the upgrade (starttls)"
        )


def _sender(email: _Reader, result: Imported) -> None:
    name, name_origin = email.get("FeedbackName", DEFAULTS["FeedbackName"])
    address, origin = email.get("FeedbackEmail", DEFAULTS["FeedbackEmail"])
    set_from(result, _text(address), origin, name_given=bool(_text(name)))
    if _text(name):
        result.set("MAIL_FROM_NAME", _text(name), name_origin)
    if _text(address) == _PLACEHOLDER:
        result.note(
            f"{origin} is Mattermost's placeholder {_PLACEHOLDER}: servers refuse it (corpus E3, "
            "'550 5.7.27'); set MAIL_FROM to an address you may send from"
        )
    reply, reply_origin = email.get("ReplyToAddress", DEFAULTS["ReplyToAddress"])
    if _text(reply):
        result.set("MAIL_REPLY_TO", _text(reply), reply_origin)
        if _text(reply) == _PLACEHOLDER:
            result.note(f"{reply_origin} is Mattermost's placeholder {_PLACEHOLDER}; set MAIL_REPLY_TO")


def _switches(email: _Reader, result: Imported) -> None:
    send, origin = email.get("SendEmailNotifications", DEFAULTS["SendEmailNotifications"])
    enabled = as_bool(send)
    if enabled is None:
        result.note(f"{origin} is neither true nor false; not imported")
    else:
        result.set("EMAIL_ENABLED", bool_text(enabled), origin)
        if not enabled:
            result.note(f"{origin} is false: Mattermost sends no notification mail")
    skip, skip_origin = email.get(
        "SkipServerCertificateVerification", DEFAULTS["SkipServerCertificateVerification"]
    )
    if as_bool(skip):
        result.set("SMTP_TLS_VERIFY", "false", skip_origin)
        result.note(
            f"warning: {skip_origin} is true, so the server's certificate is not checked and "
            "anyone on the path can read the password; trust the server's CA instead"
        )


def _site_url(service: _Reader, result: Imported) -> None:
    url, origin = service.get("SiteURL")
    if not isinstance(url, str) or not url.strip():
        return
    result.set("APP_URL", url.strip(), origin)
    host = urlsplit(url.strip()).hostname
    if host:
        result.set("SMTP_EHLO_NAME", host, origin)
        result.note(f"Mattermost greets the SMTP server with the host of {origin} (EHLO {host})")

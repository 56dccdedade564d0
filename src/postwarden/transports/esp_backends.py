"""Which anymail backend serves each provider, and its constructor kwargs built from the
resolved settings (never from Django settings: console-saved keys must work without a
restart; anymail's ``get_anymail_setting`` takes kwargs first, docs/style.md §9)."""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from anymail.exceptions import AnymailNotSupportedWarning

from postwarden.core.config.model import Provider, ProviderSettings

#: seconds for one API request; the worker's lease is longer than this
REQUEST_TIMEOUT: Final = 30.0


class EspConfigurationError(ValueError):
    """A provider setting is missing or unusable; the message names the variable to set.
    Not a send failure: nothing was sent (docs/style.md §6)."""


@dataclass(frozen=True, slots=True)
class Spec:
    backend: str
    #: variables that must be set, in the order they are reported
    required: tuple[str, ...]
    #: recipients per API request (SES refuses more than 50; Postmark allows 50 in
    #: To+Cc+Bcc; SendGrid 1000 per personalization set)
    max_recipients: int
    kwargs: Callable[[ProviderSettings], dict[str, Any]]


def _url(p: ProviderSettings) -> dict[str, Any]:
    return {"api_url": p.api_url} if p.api_url else {}


def _sendgrid(p: ProviderSettings) -> dict[str, Any]:
    return {"api_key": p.secret("SENDGRID_API_KEY").reveal(), **_url(p)}


def _mailgun(p: ProviderSettings) -> dict[str, Any]:
    kwargs = {"api_key": p.secret("MAILGUN_API_KEY").reveal(), **_url(p)}
    if domain := p.option("MAILGUN_DOMAIN"):
        kwargs["sender_domain"] = domain
    return kwargs


def _postmark(p: ProviderSettings) -> dict[str, Any]:
    kwargs = {"server_token": p.secret("POSTMARK_SERVER_TOKEN").reveal(), **_url(p)}
    if stream := p.option("POSTMARK_MESSAGE_STREAM"):
        kwargs["message_stream"] = stream
    return kwargs


def _resend(p: ProviderSettings) -> dict[str, Any]:
    return {"api_key": p.secret("RESEND_API_KEY").reveal(), **_url(p)}


def _mandrill(p: ProviderSettings) -> dict[str, Any]:
    return {"api_key": p.secret("MANDRILL_API_KEY").reveal(), **_url(p)}


def _ses(p: ProviderSettings) -> dict[str, Any]:
    region = p.option("AWS_REGION")
    session: dict[str, Any] = {"region_name": region} if region else {}
    if key_id := p.option("AWS_ACCESS_KEY_ID"):
        session["aws_access_key_id"] = key_id
        session["aws_secret_access_key"] = p.secret("AWS_SECRET_ACCESS_KEY").reveal()
    # One try per send: the outbox's retry policy owns retries and their backoff, and
    # botocore's own retries would hide a throttling reply from it (and hold the lease).
    client: dict[str, Any] = {
        "config": {
            "retries": {"total_max_attempts": 1},
            "connect_timeout": 10,
            "read_timeout": REQUEST_TIMEOUT,
        }
    }
    if region:
        client["region_name"] = region
    if p.api_url:
        client["endpoint_url"] = p.api_url
    return {"session_params": session, "client_params": client}


SPECS: Final[dict[Provider, Spec]] = {
    Provider.SES: Spec("anymail.backends.amazon_ses.EmailBackend", ("AWS_REGION",), 50, _ses),
    Provider.SENDGRID: Spec("anymail.backends.sendgrid.EmailBackend", ("SENDGRID_API_KEY",), 1000, _sendgrid),
    Provider.MAILGUN: Spec("anymail.backends.mailgun.EmailBackend", ("MAILGUN_API_KEY",), 1000, _mailgun),
    Provider.POSTMARK: Spec(
        "anymail.backends.postmark.EmailBackend", ("POSTMARK_SERVER_TOKEN",), 50, _postmark
    ),
    Provider.RESEND: Spec("anymail.backends.resend.EmailBackend", ("RESEND_API_KEY",), 50, _resend),
    Provider.MANDRILL: Spec("anymail.backends.mandrill.EmailBackend", ("MANDRILL_API_KEY",), 1000, _mandrill),
}


def check(provider: ProviderSettings) -> Spec:
    """The provider's spec, after checking its required settings.
    Raises :class:`EspConfigurationError` naming what to set."""
    spec = SPECS.get(provider.name)
    if spec is None:
        raise EspConfigurationError(f"{provider.name} is not an email provider with an API transport")
    for name in spec.required:
        if not (provider.secret(name).is_set or provider.option(name)):
            raise EspConfigurationError(
                f"{name} is not set: EMAIL_PROVIDER={provider.name} needs it "
                "(environment, .env or the console's settings)"
            )
    return spec


_quiet = threading.Lock()


def make_backend(provider: ProviderSettings) -> Any:
    """A new, unopened anymail backend for ``provider``. Raises EspConfigurationError."""
    spec = check(provider)
    module_name, _, class_name = spec.backend.rpartition(".")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    kwargs = spec.kwargs(provider)
    # Per-recipient statuses are read one by one (esp.py), so anymail must not turn
    # "every recipient refused" into an exception that loses which one and why.
    kwargs.update(ignore_recipient_status=True, fail_silently=False)
    if provider.name is not Provider.SES:
        kwargs["timeout"] = REQUEST_TIMEOUT
    # anymail 13+ warns on every SendGrid backend that it no longer supports SendGrid
    # officially (anymail#432). The API it speaks (v3 mail/send) is unchanged and our
    # tests cover it, so the warning is silenced here and only here, deliberately. The
    # lock keeps catch_warnings (process-global state) from racing other threads.
    with _quiet, warnings.catch_warnings():
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)
        return backend_class(**kwargs)

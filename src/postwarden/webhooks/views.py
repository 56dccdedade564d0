"""One tracking URL per provider: ``/webhooks/<provider>/tracking/``.

anymail's views do the work (STYLE.md §10): HTTP basic auth against a list of secrets
(POSTWARDEN_WEBHOOK_SECRET, several for rotation), each provider's own signature check
(Mailgun HMAC, SendGrid ECDSA, Resend/Svix, Mandrill), and normalization into the
``tracking`` signal, which webhooks/events.py records. For Amazon SES the SNS signature is
verified too (webhooks/sns.py). The views are built per request from the settings in
force, so a key saved in the console works at once.

The status code is a contract with the provider:
- 400: missing or wrong credentials or signature, or the webhook is not configured —
  nothing is recorded (the body says only "refused"; the log says why, without secrets);
- 401 with ``WWW-Authenticate`` for SNS without credentials: SNS sends basic auth only
  after this challenge (anymail's SES view);
- 500: an error while recording: that event is rolled back (each event is its own
  transaction, so no database lock is held while a certificate is fetched) and the
  provider sends the POST again; events of it already stored are then duplicates, no-ops;
- 200 otherwise, also for a repeated event and for an event about an unknown message;
- HEAD: 200 (Mandrill and others probe the URL when it is set up).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from anymail.exceptions import (
    AnymailAPIError,
    AnymailInsecureWebhookWarning,
    AnymailNotSupportedWarning,
    AnymailWebhookValidationFailure,
)
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.base import AnymailBasicAuthMixin
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.mandrill import MandrillCombinedWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from postwarden.core.config.model import Settings
from postwarden.core.secrets import MASK, Secret
from postwarden.webhooks import sns

logger = logging.getLogger("postwarden.webhooks")


def load_settings() -> Settings:
    """The settings in force (configstore/runtime.py), read per request so a key saved in
    the console works at once. A module attribute: tests hand in resolved settings."""
    from postwarden.configstore.runtime import current_settings

    return current_settings()


class NotConfigured(Exception):
    """The webhook cannot authenticate anything yet; the text names what to set."""


class SesTrackingView(AmazonSESTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    """anymail's SES view plus SNS signature verification, and subscription confirmation
    through :data:`sns.VERIFIER` (SNS hosts only) instead of boto3."""

    def validate_request(self, request: HttpRequest) -> None:
        # anymail runs every validate_request of the class chain, this one first: so check
        # basic auth before parsing anything or fetching a certificate
        AnymailBasicAuthMixin.validate_request(self, request)
        try:
            message = self._parse_sns_message(request)
        except AnymailAPIError as exc:
            raise AnymailWebhookValidationFailure("SNS body is not JSON") from exc
        if not isinstance(message, dict):
            raise AnymailWebhookValidationFailure("SNS body is not a JSON object")
        try:
            sns.VERIFIER.verify(message)
        except sns.SnsVerificationError as exc:
            raise AnymailWebhookValidationFailure(f"SNS signature check failed: {exc}") from exc

    def auto_confirm_sns_subscription(self, sns_message: dict[str, Any]) -> None:
        # Only a request with our basic-auth secret proves the subscription is ours: any AWS
        # account can point a topic at this URL, with a valid SNS signature (anymail's note).
        if not self.basic_auth:
            raise AnymailWebhookValidationFailure(
                "SNS SubscriptionConfirmation refused: set POSTWARDEN_WEBHOOK_SECRET and put it in the "
                "subscription URL (https://user:password@…), or confirm in the SNS console"
            )
        try:
            sns.VERIFIER.confirm_subscription(sns_message)
        except sns.SnsVerificationError as exc:  # a SubscribeURL off SNS: refused, not retried
            raise AnymailWebhookValidationFailure(f"SNS subscription not confirmed: {exc}") from exc
        logger.info("SNS subscription confirmed", extra={"topic": str(sns_message.get("TopicArn", ""))})


def _basic(s: Settings) -> list[str]:
    return [secret.reveal() for secret in s.webhooks.basic_auth if secret.is_set]


def _need(value: Secret, name: str) -> str:
    if not value.is_set:
        raise NotConfigured(f"set {name}")
    return value.reveal()


def _sendgrid(s: Settings) -> dict[str, Any]:
    key = s.webhooks.sendgrid_verification_key
    if not key.is_set and not _basic(s):
        raise NotConfigured("set SENDGRID_WEBHOOK_VERIFICATION_KEY and/or POSTWARDEN_WEBHOOK_SECRET")
    return {"tracking_webhook_verification_key": key.reveal() or None}


def _resend(s: Settings) -> dict[str, Any]:
    secret = s.webhooks.resend_signing_secret
    if not secret.is_set and not _basic(s):
        raise NotConfigured("set RESEND_WEBHOOK_SECRET and/or POSTWARDEN_WEBHOOK_SECRET")
    return {"signing_secret": secret.reveal() or None}


def _postmark(s: Settings) -> dict[str, Any]:
    if not _basic(s):  # Postmark signs nothing: basic auth is its only protection
        raise NotConfigured("set POSTWARDEN_WEBHOOK_SECRET")
    return {}


def _mandrill(s: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"webhook_key": _need(s.webhooks.mandrill_webhook_key, "MANDRILL_WEBHOOK_KEY")}
    if s.webhooks.public_url:
        # Mandrill signs the URL it was given; behind a proxy the request's own URL differs
        kwargs["webhook_url"] = s.webhooks.public_url.rstrip("/") + "/webhooks/mandrill/tracking/"
    return kwargs


@dataclass(frozen=True, slots=True)
class Hook:
    view: type[Any]
    kwargs: Callable[[Settings], dict[str, Any]]


HOOKS: Final[dict[str, Hook]] = {
    "ses": Hook(SesTrackingView, lambda s: {"auto_confirm_sns_subscriptions": True}),
    "sendgrid": Hook(SendGridTrackingWebhookView, _sendgrid),
    "mailgun": Hook(
        MailgunTrackingWebhookView,
        lambda s: {
            "webhook_signing_key": _need(s.webhooks.mailgun_signing_key, "MAILGUN_WEBHOOK_SIGNING_KEY")
        },
    ),
    "postmark": Hook(PostmarkTrackingWebhookView, _postmark),
    "resend": Hook(ResendTrackingWebhookView, _resend),
    "mandrill": Hook(MandrillCombinedWebhookView, _mandrill),
}


_quiet = threading.Lock()


def _build(hook: Hook, settings: Settings, request: HttpRequest) -> Any:
    """A view instance for this request, as ``View.as_view()`` would make it."""
    kwargs = {"webhook_secret": _basic(settings), **hook.kwargs(settings)}
    # Our own checks above refuse an unprotected webhook, so anymail's "insecure" warning
    # would only be noise; SendGrid's support warning: see transports/esp_backends.py.
    # The lock keeps catch_warnings (process-global) from racing other request threads.
    with _quiet, warnings.catch_warnings():
        warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)
        view = hook.view(**kwargs)
    view.setup(request)
    return view


def _scrub(text: str, settings: Settings) -> str:
    w = settings.webhooks
    values = [
        *w.basic_auth,
        w.mailgun_signing_key,
        w.sendgrid_verification_key,
        w.resend_signing_secret,
        w.mandrill_webhook_key,
    ]
    for secret in values:
        plain = secret.reveal()
        # "user:password" shows up in URLs (Mandrill's message) as itself and as its password
        for piece in (plain, plain.partition(":")[2]):
            if len(piece) >= 4:
                text = text.replace(piece, MASK)
    return text


@csrf_exempt
@login_not_required
def tracking(request: HttpRequest, provider: str) -> HttpResponse:
    """The provider's tracking webhook; see the module docstring for the status codes."""
    hook = HOOKS.get(provider)
    if hook is None:
        raise Http404("no such provider")
    if request.method == "HEAD":
        return HttpResponse()
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST", "HEAD"])
    settings = load_settings()
    try:
        view = _build(hook, settings, request)
        response: HttpResponse = view.dispatch(request)
        return response
    except NotConfigured as exc:
        logger.warning("webhook refused: not configured", extra={"provider": provider, "why": str(exc)})
    except AnymailWebhookValidationFailure as exc:
        logger.warning("webhook refused", extra={"provider": provider, "why": _scrub(str(exc), settings)})
    except Exception as exc:  # the provider retries on 5xx
        logger.error(
            "webhook processing failed",
            extra={"provider": provider, "why": _scrub(f"{type(exc).__name__}: {exc}", settings)},
        )
        return HttpResponse("error", status=500, content_type="text/plain")
    return HttpResponse("refused", status=400, content_type="text/plain")

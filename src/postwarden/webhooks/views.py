"""One tracking URL per provider: ``/webhooks/<provider>/tracking/``.

anymail's views do the work (docs/style.md §10): HTTP basic auth against a list of secrets
(POSTWARDEN_WEBHOOK_SECRET, several for rotation), each provider's own signature check
(Mailgun HMAC, SendGrid ECDSA, Resend/Svix, Mandrill), and normalization into the
``tracking`` signal, which webhooks/events.py records. For Amazon SES the SNS signature is
verified too (webhooks/sns.py). The views are built per request from the settings in
force, so a key saved in the console works at once.

The status code is a contract with the provider (webhooks/outcomes.py):
- 400 "refused": missing or wrong credentials or signature, a signed timestamp outside
  POSTWARDEN_WEBHOOK_TOLERANCE or a Mailgun token seen before (webhooks/replay.py), an SNS
  topic other than SES_WEBHOOK_TOPIC_ARN, or the webhook is not configured — nothing is
  recorded (the body says only "refused"; the log says why, without secrets);
- 400 "malformed": authenticated, but a body that can never be processed (not JSON, the
  wrong shape, an inbound notification sent to the tracking URL): the provider would
  otherwise send it again forever; the log says what is wrong;
- 401 with ``WWW-Authenticate`` for SNS without credentials: SNS sends basic auth only
  after this challenge (anymail's SES view);
- 500: could not record it now (the database is locked or unavailable, a fetch failed):
  that event is rolled back (each event is its own transaction, so no database lock is
  held while a certificate is fetched; Mailgun's whole request is one, so its token is
  not spent) and the provider sends the POST again; events of it already stored are then
  duplicates, no-ops;
- 200 otherwise, also for a repeated event and for an event about an unknown message;
- HEAD: 200 (Mandrill and others probe the URL when it is set up).
"""

from __future__ import annotations

import contextlib
import json
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
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from postwarden.core.config.model import Settings
from postwarden.core.secrets import MASK, Secret
from postwarden.webhooks import outcomes, replay, sns
from postwarden.webhooks.events import PROVIDERS

logger = logging.getLogger("postwarden.webhooks")


def load_settings() -> Settings:
    """The settings in force (configstore/runtime.py), read per request so a key saved in
    the console works at once. A module attribute: tests hand in resolved settings."""
    from postwarden.configstore.runtime import current_settings

    return current_settings()


class NotConfigured(Exception):
    """The webhook cannot authenticate anything yet; the text names what to set."""


class Checked:
    """Checks every event anymail parsed (webhooks/outcomes.py) before any is recorded:
    one that can never be recorded refuses the whole request, so nothing of it is stored."""

    def parse_events(self, request: HttpRequest) -> list[Any]:
        events: list[Any] = super().parse_events(request)  # type: ignore[misc]
        provider = PROVIDERS[self.esp_name]  # type: ignore[attr-defined]
        for event in events:
            outcomes.check(provider, event, event.esp_event)
        return events


class SendGridView(Checked, SendGridTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    """SendGrid signs its timestamp with the body: one outside the tolerance is a replay."""

    tolerance: int = replay.DEFAULT_TOLERANCE

    def parse_events(self, request: HttpRequest) -> list[Any]:
        if self.webhook_verification_key is not None:  # the timestamp is signed only then
            stamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
            replay.check_fresh("SendGrid", stamp, self.tolerance)
        outcomes.check_batch("sendgrid", json.loads(request.body))
        return super().parse_events(request)


class MailgunView(Checked, MailgunTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    """Mailgun signs only a timestamp and a token, not the event: Mailgun's advice is to
    refuse old timestamps and tokens seen before, or one captured request would carry any
    event an attacker writes. Runs inside the request's transaction (:data:`HOOKS`), so a
    request answered 500 does not spend its token and Mailgun's retry is accepted."""

    tolerance: int = replay.DEFAULT_TOLERANCE

    def parse_events(self, request: HttpRequest) -> list[Any]:
        stamp, token = _mailgun_signature(request)
        replay.check_fresh("Mailgun", stamp, self.tolerance)
        replay.consume("mailgun", token, stamp, self.tolerance)
        return super().parse_events(request)


def _mailgun_signature(request: HttpRequest) -> tuple[str, str]:
    """The (timestamp, token) anymail's signature check just accepted."""
    if request.content_type == "application/json":
        block = json.loads(request.body)["signature"]  # anymail's check just read it
        stamp, token = block.get("timestamp"), block.get("token")
    else:
        stamp, token = request.POST.get("timestamp"), request.POST.get("token")
    if not isinstance(stamp, str | int) or not isinstance(token, str) or not token:
        raise AnymailWebhookValidationFailure("Mailgun signature without a timestamp and a token")
    return str(stamp), token


class PostmarkView(Checked, PostmarkTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    pass


class ResendView(Checked, ResendTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    pass


class MandrillView(Checked, MandrillCombinedWebhookView):  # type: ignore[misc]  # anymail is untyped
    def parse_events(self, request: HttpRequest) -> list[Any]:
        outcomes.check_batch("mandrill", json.loads(request.POST.get("mandrill_events", "")))
        return super().parse_events(request)


class SesTrackingView(Checked, AmazonSESTrackingWebhookView):  # type: ignore[misc]  # anymail is untyped
    """anymail's SES view plus SNS signature verification, and subscription confirmation
    through :data:`sns.VERIFIER` (SNS hosts only) instead of boto3."""

    #: the SNS topics accepted (SES_WEBHOOK_TOPIC_ARN); empty: any topic SNS signs
    topic_arns: tuple[str, ...] = ()

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
        topic = message.get("TopicArn")
        if self.topic_arns and topic not in self.topic_arns:
            # checked before the signature, so no certificate is fetched for it
            raise AnymailWebhookValidationFailure(f"SNS topic {topic!r} is not in SES_WEBHOOK_TOPIC_ARN")
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
    return {"tracking_webhook_verification_key": key.reveal() or None, "tolerance": s.webhooks.tolerance}


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


def _mailgun(s: Settings) -> dict[str, Any]:
    return {
        "webhook_signing_key": _need(s.webhooks.mailgun_signing_key, "MAILGUN_WEBHOOK_SIGNING_KEY"),
        "tolerance": s.webhooks.tolerance,
    }


def _ses(s: Settings) -> dict[str, Any]:
    return {"auto_confirm_sns_subscriptions": True, "topic_arns": s.webhooks.ses_topic_arns}


@dataclass(frozen=True, slots=True)
class Hook:
    view: type[Any]
    kwargs: Callable[[Settings], dict[str, Any]]
    #: the whole request is one transaction (Mailgun: the token is spent only with the event)
    atomic: bool = False


HOOKS: Final[dict[str, Hook]] = {
    "ses": Hook(SesTrackingView, _ses),
    "sendgrid": Hook(SendGridView, _sendgrid),
    "mailgun": Hook(MailgunView, _mailgun, atomic=True),
    "postmark": Hook(PostmarkView, _postmark),
    "resend": Hook(ResendView, _resend),
    "mandrill": Hook(MandrillView, _mandrill),
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
        with transaction.atomic() if hook.atomic else contextlib.nullcontext():
            response: HttpResponse = view.dispatch(request)
        return response
    except NotConfigured as exc:
        logger.warning("webhook refused: not configured", extra={"provider": provider, "why": str(exc)})
    except AnymailWebhookValidationFailure as exc:
        logger.warning("webhook refused", extra={"provider": provider, "why": _scrub(str(exc), settings)})
    except Exception as exc:
        return _failed(provider, exc, settings)
    return HttpResponse("refused", status=400, content_type="text/plain")


def _failed(provider: str, exc: Exception, settings: Settings) -> HttpResponse:
    """500 when a later attempt can succeed (the provider retries), else 400 and a log line
    (webhooks/outcomes.py)."""
    why = _scrub(f"{type(exc).__name__}: {exc}", settings)[:500]
    if outcomes.retryable(exc):
        logger.error(
            "webhook event not recorded; the provider will send it again",
            extra={"provider": provider, "why": why},
        )
        return HttpResponse("error", status=500, content_type="text/plain")
    logger.warning(
        "webhook payload refused: it can never be processed", extra={"provider": provider, "why": why}
    )
    return HttpResponse("malformed", status=400, content_type="text/plain")

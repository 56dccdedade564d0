"""django-anymail's captured webhook payloads for the six providers (shared/webhook-payloads,
beside the clone: never copied into the repository), and each provider's request signed as
the provider signs it, for any body.

Missing locally: the test skips and says where they go; under CI=true it fails (tests/system.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from django.test import Client
from svix.webhooks import Webhook

from tests.system import missing
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER
from tests.webhooks.test_mailgun_postmark import MAILGUN_KEY
from tests.webhooks.test_resend_mandrill import MANDRILL_KEY, RESEND_SECRET
from tests.webhooks.test_sendgrid import PRIVATE, PUBLIC_B64
from tests.webhooks.test_ses_sns import TOPIC, sign

ROOT: Final = Path(__file__).parents[2] / ".." / "shared" / "webhook-payloads"
#: every provider's credentials, as an operator saves them
SETTINGS: Final = {
    "POSTWARDEN_WEBHOOK_SECRET": f"{BASIC_USER}:{BASIC_PASSWORD}",
    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    "SENDGRID_WEBHOOK_VERIFICATION_KEY": PUBLIC_B64,
    "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
    "MANDRILL_WEBHOOK_KEY": MANDRILL_KEY,
}
#: provider -> its folder of captured payloads
FOLDERS: Final = {
    "sendgrid": "sendgrid",
    "mailgun": "mailgun",
    "postmark": "postmark",
    "resend": "resend",
    "mandrill": "mandrill",
    "ses": "amazon_ses",
}


def captured(provider: str, test: str, variable: str | None = None) -> Any:
    """The payload anymail's ``test`` posted (its ``variable``, else the first one), as a
    fresh copy. SES notifications come as the SNS message, its ``Message`` the SES event."""
    path = ROOT / FOLDERS[provider] / f"{test}.json"
    if not path.is_file():
        missing(f"anymail's captured webhook payloads ({path.resolve()})", "put shared/ beside the clone")
    variables: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["variables"]
    name = variable or next(iter(variables))
    payload = copy.deepcopy(variables[name]["payload"])
    if provider == "ses" and name == "raw_sns_message" and isinstance(payload.get("Message"), dict):
        # anymail's test builds Message as json.dumps(raw_ses_event) + "\n"
        payload["Message"] = json.dumps(variables["raw_ses_event"]["payload"]) + "\n"
    return payload


def every(provider: str) -> list[str]:
    """The names of ``provider``'s captured payloads."""
    folder = ROOT / FOLDERS[provider]
    if not folder.is_dir():
        missing(f"anymail's captured webhook payloads ({folder.resolve()})", "put shared/ beside the clone")
    return sorted(p.stem for p in folder.glob("*.json"))


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()}


@dataclass
class Signed:
    body: bytes | dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def sendgrid(body: bytes, *, at: int | None = None) -> Signed:
    stamp = str(int(time.time()) if at is None else at)
    signature = PRIVATE.sign(stamp.encode() + body, _ecdsa())
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        **_basic(),
    }
    return Signed(body, headers)


def _ecdsa() -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.ECDSA(hashes.SHA256())


def mailgun_signature(*, at: int | None = None, token: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    token = token or secrets.token_hex(25)
    digest = hmac.new(MAILGUN_KEY.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": digest}


def mailgun(payload: Any, *, at: int | None = None, token: str | None = None) -> Signed:
    """A JSON webhook: Mailgun signs a block inside the body, not the body (a body that is
    no JSON object has nowhere to carry it)."""
    if isinstance(payload, dict):
        payload = {**payload, "signature": mailgun_signature(at=at, token=token)}
    return Signed(payload if isinstance(payload, bytes) else json.dumps(payload).encode(), _basic())


def mailgun_legacy(fields: dict[str, str], *, at: int | None = None) -> Signed:
    """A legacy form post: the signature fields among the event's."""
    return Signed({**fields, **mailgun_signature(at=at)}, _basic(), content_type="")


def postmark(body: bytes) -> Signed:
    return Signed(body, _basic())  # Postmark signs nothing: basic auth is all


def resend(body: str, *, svix_id: str | None = None) -> Signed:
    svix_id = svix_id or f"msg_{secrets.token_hex(12)}"
    now = datetime.now(UTC)
    headers = {
        "svix-id": svix_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(RESEND_SECRET).sign(svix_id, now, body),
        **_basic(),
    }
    return Signed(body.encode(), headers)


def mandrill(events: str) -> Signed:
    form = {"mandrill_events": events}
    url = f"http://{BASIC_USER}:{BASIC_PASSWORD}@testserver/webhooks/mandrill/tracking/"
    signed = url + "".join(k + v for k, v in sorted(form.items()))
    signature = base64.b64encode(
        hmac.new(MANDRILL_KEY.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()
    return Signed(form, {"X-Mandrill-Signature": signature, **_basic()}, content_type="")


def ses(sns_message: dict[str, Any]) -> Signed:
    """An SNS notification signed with the test certificate (tests/webhooks/test_ses_sns.py's
    fetcher serves it); the headers SNS sends with it."""
    message = {"TopicArn": TOPIC, **sns_message}
    message.setdefault("MessageId", secrets.token_hex(16))
    message.setdefault("Timestamp", "2026-11-22T10:00:00.000Z")
    message.pop("Signature", None)
    message.pop("SigningCertURL", None)
    signed = sign(message)
    headers = {
        "x-amz-sns-message-type": str(signed["Type"]),
        "x-amz-sns-message-id": str(signed["MessageId"]),
        "x-amz-sns-topic-arn": str(signed["TopicArn"]),
        **_basic(),
    }
    return Signed(json.dumps(signed).encode(), headers, content_type="text/plain; charset=UTF-8")


def ses_event(ses_payload: Any) -> Signed:
    """An SES event (any JSON value, or text) as an SNS notification's Message."""
    text = ses_payload if isinstance(ses_payload, str) else json.dumps(ses_payload)
    return ses({"Type": "Notification", "Message": text})


def post(client: Client, provider: str, signed: Signed) -> Any:
    url = f"/webhooks/{provider}/tracking/"
    if signed.content_type:
        return client.post(url, signed.body, content_type=signed.content_type, headers=signed.headers)
    return client.post(url, signed.body, headers=signed.headers)


#: provider -> how a captured payload is sent, signed
SENDERS: Final[dict[str, Callable[[Any], Signed]]] = {
    "sendgrid": lambda payload: sendgrid(json.dumps(payload).encode()),
    "mailgun": lambda payload: mailgun(payload) if "event-data" in payload else mailgun_legacy(payload),
    "postmark": lambda payload: postmark(json.dumps(payload).encode()),
    "resend": lambda payload: resend(json.dumps(payload)),
    "mandrill": lambda payload: mandrill(json.dumps(payload)),
    "ses": ses,
}

"""Sentences Postwarden stored itself (a policy's hold, a person's release, a worker's
failure, a canary run's end, a bounce's note, an alert that could not be delivered) are
said in the reader's language on the console's pages, with the remote side's words quoted
as they came; the API and the rows keep English, unchanged. Every row here is written by
the real writer (the outbox's policy and actions, the worker against a real SMTP server,
the webhook recorder, the bounce intake, the canary runner, the alert sender)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from anymail.signals import AnymailTrackingEvent
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from postwarden.accounts.models import ApiKey, User
from postwarden.alerts import delivery
from postwarden.alerts.jobs import evaluate_database
from postwarden.alerts.models import Delivery
from postwarden.bounces.intake import Arrival, take
from postwarden.bounces.models import Bounce
from postwarden.canaries import runner
from postwarden.canaries import store as canary_store
from postwarden.canaries.models import CanaryRun, RunState
from postwarden.core.config.model import AlertSettings
from postwarden.core.secrets import Secret
from postwarden.outbox import actions, retrynow, sources
from postwarden.outbox.models import Event, Message, Recipient, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.webhooks.events import record as record_webhook
from tests.bounces.helpers import dsn, verp
from tests.console.conftest import logged_in
from tests.console.test_pseudo_locale import english_on, pseudo  # noqa: F401 - a fixture
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server, smtp_server  # noqa: F401 - a fixture
from tests.outbox.test_worker_smtp import run_worker_steps

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_env")]

#: who acted, as the console names a signed-in person (its English is "console: ops@example.com")
BY = sources.person("ops@example.com")


@dataclass(frozen=True)
class Story:
    message: Message
    held: Message
    canary: int
    bounce_path: str


def _rcpt(message: Message, address: str) -> Recipient:
    return Recipient.objects.get(message=message, address=address)


def _story(server: Server, closed_port: int) -> Story:
    """One message whose recipients went every way, a held one, a canary and a bounce."""
    held_settings = make_settings(enabled=False)
    html = '<p>Reset at <a href="http://localhost:8000/reset">the link</a></p>'
    addresses = [
        "gone@example.com",
        "grey@example.com",
        "fine@example.com",
        "never@example.com",
        "late@example.com",
    ]
    out = enqueue(Outgoing(to=addresses, subject="Stored words", text="x", html=html), settings=held_settings)
    message = Message.objects.get(pk=out.pk)
    rows = {a: _rcpt(message, a) for a in addresses}
    assert {r.state for r in rows.values()} == {"held"}
    # a person releases three and cancels the fourth
    actions.requeue(
        [rows[a].pk for a in addresses if a != "never@example.com"], by=BY, settings=make_settings()
    )
    actions.cancel([rows["never@example.com"].pk], by=BY)
    # the worker: one refused for good (an address that does not exist), one greylisted
    server.handler.rcpt["gone@example.com"] = ["550 5.1.1 <gone@example.com>: no such user"]
    server.handler.rcpt["grey@example.com"] = ["451 4.7.1 Greylisted, please try again later"]
    run_worker_steps(server.port)
    assert _rcpt(message, "gone@example.com").state == "failed"
    assert _rcpt(message, "grey@example.com").state == "deferred"
    # the settings were saved: the greylisted one is retried now (before its backoff ends:
    # the test worker's backoff is a hundredth of a second)
    later = timezone.now() + timedelta(minutes=5)
    Recipient.objects.filter(address="grey@example.com").update(next_attempt_at=later)
    assert retrynow.retry_deferred({"envelope"}, why=retrynow.SETTINGS_SAVED) == 1
    # a provider says the accepted one bounced
    fine = _rcpt(message, "fine@example.com")
    Recipient.objects.filter(pk=fine.pk).update(provider_message_id="pm-stored-1")
    record_webhook(
        "sendgrid",
        AnymailTrackingEvent(
            event_type="bounced",
            message_id="pm-stored-1",
            recipient="fine@example.com",
            mta_response="550 5.7.1 Message rejected by policy",
            event_id="sg-stored-1",
            esp_event={"event": "bounce", "sg_event_id": "sg-stored-1"},
        ),
    )
    assert _rcpt(message, "fine@example.com").state == "bounced"
    # another message, held by the kill switch and left so
    other = enqueue(Outgoing(to=["wait@example.com"], subject="Held", text="x"), settings=held_settings)
    # a canary whose mailbox cannot be read (nothing is sent), and one whose mail was
    # cancelled before it went (missing)
    down = canary_store.create(
        canary_store.CanaryInput(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=closed_port,
            imap_security="none",
            imap_user="canary@example.com",
            imap_password="imap-password-1",
        )
    )
    runner.run_due(only=[down.pk], settings=make_settings())
    assert CanaryRun.objects.get(canary=down).state == RunState.UNREACHABLE
    # the runner's own step that queues a run's mail (its look at the mailbox is what
    # cannot happen here)
    sent = runner._send(down, f"{down.key}.stored", "manual", timezone.now(), make_settings())
    assert sent.message_id is not None
    actions.cancel(Recipient.objects.filter(message_id=sent.message_id).values_list("pk", flat=True), by=BY)
    CanaryRun.objects.filter(pk=sent.pk).update(next_poll_at=None)
    runner.run_due(only=[down.pk], settings=make_settings())
    sent.refresh_from_db()
    assert sent.state == RunState.MISSING
    # a bounce that came back for an accepted one, and one nobody could read
    late = _rcpt(message, "late@example.com")
    returned = verp().address(message.pk, late.pk)
    take(Arrival(dsn(returned, late.address), "smtp", return_paths=(returned,), origin="192.0.2.1"), verp())
    assert _rcpt(message, "late@example.com").state == "bounced"
    path = verp().address(message.pk, fine.pk)
    take(
        Arrival(
            b"From: someone@example.net\r\nSubject: hello\r\n\r\njust text\r\n",
            "smtp",
            return_paths=(path,),
            origin="192.0.2.1",
        ),
        verp(),
    )
    assert Bounce.objects.get(outcome="unreadable").note.startswith("neither a DSN")
    return Story(message, Message.objects.get(pk=other.pk), down.pk, path)


def _alert_not_delivered() -> Delivery | None:
    """An alert whose destination was removed before it was sent."""
    base = make_settings()
    first = replace(base, alerts=AlertSettings(urls=(Secret("json://127.0.0.1:9/first-hook-token-1"),)))
    later = replace(base, alerts=AlertSettings(urls=(Secret("json://127.0.0.1:9/later-hook-token-2"),)))
    assert evaluate_database(first)  # mail waits, one died, no worker runs
    delivery.send_due(later)
    failed = Delivery.objects.filter(status="failed")
    assert failed.exists()
    return failed.first()


@pytest.fixture
def story(smtp_server: Server, closed_port: int) -> Story:  # noqa: F811 - the fixture imported above
    return _story(smtp_server, closed_port)


def _pages(story: Story) -> dict[str, str]:
    return {
        "message": reverse("console:message", args=[story.message.public_id]),
        "held message": reverse("console:message", args=[story.held.public_id]),
        "held": reverse("console:held"),
        "canary": reverse("console:canary", args=[story.canary]),
        "bounces": reverse("console:bounces"),
        "alerts": reverse("console:alerts"),
        "suppressions": reverse("console:suppressions"),
    }


def test_every_stored_sentence_is_said_from_the_catalog_in_the_pseudo_locale(
    pseudo: str,  # noqa: F811 - the fixture imported above
    admin: User,
    story: Story,
) -> None:
    _alert_not_delivered()
    admin.language = pseudo
    admin.save()
    client = logged_in(admin)
    seen = {}
    for name, url in _pages(story).items():
        page = client.get(url).content.decode()
        assert [t for t in re.findall(r'<(\w+)[^>]*\slang="en"', page) if t != "option"] == [], (
            name,
            re.findall(r'<span lang="en">[^<]*', page),
        )
        if english := english_on(page, stored=True):
            seen[name] = english
    assert not seen, "\n".join(f"{name}: {words}" for name, words in seen.items())


def test_the_persian_pages_say_the_stored_sentences_in_persian_with_the_servers_words_as_they_came(
    admin: User, story: Story
) -> None:
    _alert_not_delivered()
    admin.language = "fa"
    admin.save()
    client = logged_in(admin)
    page = client.get(reverse("console:message", args=[story.message.public_id])).content.decode()
    # a person's action, a policy's hold, the worker's failure with the server's words
    # isolated left to right, a provider's event quoted as it came
    assert 'به دست <bdi dir="ltr">ops@example.com</bdi> در کنسول رها شد' in page
    # a suppression's source after its dates, joined with the Persian comma
    assert f'UTC، تلاش ۱ برای <bdi dir="ltr">{story.message.public_id}</bdi>' in page
    refused = "550 5.1.1 &lt;gone@example.com&gt;: no such user"
    assert f'در مرحلهٔ <bdi dir="ltr">rcpt</bdi> ناموفق بود: <bdi dir="ltr">{refused}</bdi>' in page
    assert 'همین حالا دوباره تلاش شد (<bdi dir="ltr">envelope.greylisted</bdi>)' in page
    assert '<bdi dir="ltr" class="mono">550 5.7.1 Message rejected by policy</bdi>' in page
    assert 'برگشتی: <bdi dir="ltr">550 5.7.1 Message rejected by policy</bdi>' in page
    assert "sending is switched off" not in page
    # a bounce: the remote server's words as they came, then what they mean in Persian
    bounced = "smtp; 550 5.1.1 &lt;late@example.com&gt;: Recipient address rejected: User unknown"
    assert f'<bdi dir="ltr">{bounced}</bdi> — ' in page
    held = client.get(reverse("console:message", args=[story.held.public_id])).content.decode()
    assert "نگه‌داشته" in held
    assert "EMAIL_ENABLED" in held
    alerts = client.get(reverse("console:alerts")).content.decode()
    assert "این مقصد پیش از ارسال از نشانی‌های هشدار حذف شد" in alerts
    # where each suppression came from: the worker's attempt, a provider's event, a bounce
    suppressed = client.get(reverse("console:suppressions")).content.decode()
    assert f'تلاش ۱ برای <bdi dir="ltr">{story.message.public_id}</bdi>' in suppressed
    assert 'رویداد <bdi dir="ltr">sendgrid</bdi> <bdi dir="ltr">sg-stored-1</bdi>' in suppressed
    assert 'برگشتی <bdi dir="ltr">&lt;dsn.' in suppressed


def test_the_rows_and_the_api_keep_their_english_whatever_the_words(story: Story) -> None:
    """The API reads the same rows byte for byte with and without the kept sentences, and
    the English is what it was before they were kept."""
    _key, secret = ApiKey.issue("reader", ["read"])
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    url = f"/api/v1/messages/{story.message.public_id}"
    with_words = api.get(url).content
    assert Event.objects.exclude(words=None).exists()
    Event.objects.update(words=None)
    Suppression.objects.update(words=None)
    assert api.get(url).content == with_words
    body: dict[str, Any] = json.loads(with_words)
    details = [e["detail"] for e in body["timeline"]]
    assert f"gone@example.com: released by {BY}" in details
    assert f"never@example.com: cancelled by {BY}" in details
    assert "enqueued from api for 5 recipients" in details
    assert "grey@example.com: retried now (envelope.greylisted): the email settings were saved" in details
    reasons = {r["address"]: r["reason"] for r in body["recipients"]}
    assert reasons["gone@example.com"] == "failed at rcpt: 550 5.1.1 <gone@example.com>: no such user"
    assert reasons["fine@example.com"] == "bounced: 550 5.7.1 Message rejected by policy"
    assert reasons["never@example.com"] == f"cancelled by {BY}"
    assert str(BY) == "console: ops@example.com"
    # a suppression's source: the same English in the API whatever the page says
    sources_api = Client(headers={"Authorization": f"Bearer {ApiKey.issue('admin', ['admin'])[1]}"})
    listed = json.loads(sources_api.get("/api/v1/suppressions").content)
    assert {row["source"] for row in listed["items"]} >= {
        f"attempt 1 of {story.message.public_id}",
        "sendgrid event sg-stored-1",
    }


def test_rows_written_before_the_words_were_kept_still_show_their_english_marked_as_english(
    admin: User, story: Story
) -> None:
    Event.objects.update(words=None)
    CanaryRun.objects.update(words=None)
    Bounce.objects.update(words=None)
    admin.language = "fa"
    admin.save()
    client = logged_in(admin)
    page = client.get(reverse("console:message", args=[story.message.public_id])).content.decode()
    assert f'<span lang="en">never@example.com: cancelled by {BY}</span>' in page
    assert f'<span lang="en">cancelled by {BY}</span>' in page
    canary = client.get(reverse("console:canary", args=[story.canary])).content.decode()
    assert '<span lang="en">nothing was sent: ' in canary
    bounces = client.get(reverse("console:bounces")).content.decode()
    assert '<span lang="en">neither a DSN' in bounces

"""Authenticated requests that can never be processed answer exactly 400, record nothing and
leave a log line; only "could not record it now" answers 500 (webhooks/outcomes.py).

For each provider, hypothesis generates three families of bodies, each sent with valid
credentials and a valid signature: text that is not JSON; JSON of the wrong shape; and
anymail's captured payloads with the field that says what the event is removed or given
a value of the wrong type. A 500 would make the provider send the same body again
forever; a 200 would claim an event was recorded."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests.webhooks import real
from tests.webhooks.test_real_payloads import WRONG_URL, payload_of
from tests.webhooks.test_ses_sns import Fetcher, fetcher  # noqa: F401 - fixture

EXAMPLES = int(os.environ.get("WEBHOOK_FUZZ_EXAMPLES", "30"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
NOT_AN_OBJECT = JSON.filter(lambda v: not isinstance(v, dict))
NOT_TEXT = JSON.filter(lambda v: not isinstance(v, str))


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


NOT_JSON = st.text(min_size=1, max_size=60).filter(_not_json)
#: a list of events with at least one that is no JSON object, or no list at all
NOT_A_LIST_OF_OBJECTS = (
    st.sampled_from(["", "[]x", {}, 0])  # "" and {} once iterated as "no events" (200)
    | st.lists(JSON, min_size=1, max_size=3).filter(lambda v: any(not isinstance(e, dict) for e in v))
    | NOT_AN_OBJECT.filter(lambda v: not isinstance(v, list))
    | st.dictionaries(st.text(max_size=10), JSON, min_size=1, max_size=3)
)

#: provider -> a captured payload, and the field that says what its event is
SAMPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sendgrid": ("SendGridDeliveryTestCase.test_bounce_event", ("event",)),
    "mailgun": ("MailgunTestCase.test_failed_permanent_event", ("event-data", "event")),
    "postmark": ("PostmarkDeliveryTestCase.test_bounce_event", ("RecordType",)),
    "resend": ("ResendTestCase.test_hard_bounced_event", ("type",)),
    "mandrill": ("MandrillTrackingTestCase.test_hard_bounce_event", ("event",)),
    "ses": ("AmazonSESNotificationsTests.test_bounce_event", ("notificationType",)),
}


def _as_text(value: Any) -> str:
    return json.dumps(value)


#: provider -> how a body of each family is signed and sent: (not JSON, wrong shape, event)
SHAPES: dict[
    str, tuple[Callable[[str], real.Signed], Callable[[Any], real.Signed], Callable[[Any], real.Signed]]
] = {
    "sendgrid": (
        lambda text: real.sendgrid(text.encode()),
        lambda value: real.sendgrid(_as_text(value).encode()),
        lambda event: real.sendgrid(_as_text([event]).encode()),
    ),
    "mailgun": (
        lambda text: real.mailgun(text.encode()),  # nowhere to carry its signature: refused
        lambda value: real.mailgun({"event-data": value} if not isinstance(value, list) else value),
        lambda event: real.mailgun(event),
    ),
    "postmark": (
        lambda text: real.postmark(text.encode()),
        lambda value: real.postmark(_as_text(value).encode()),
        lambda event: real.postmark(_as_text(event).encode()),
    ),
    "resend": (
        lambda text: real.resend(text),
        lambda value: real.resend(_as_text(value)),
        lambda event: real.resend(_as_text(event)),
    ),
    "mandrill": (
        lambda text: real.mandrill(text),
        lambda value: real.mandrill(_as_text(value)),
        lambda event: real.mandrill(_as_text([event])),
    ),
    "ses": (
        lambda text: real.ses_event(text),
        lambda value: real.ses_event(value),
        lambda event: real.ses_event(event),
    ),
}
#: the wrong shapes per provider (Mailgun's body is an object holding "event-data")
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "sendgrid": NOT_A_LIST_OF_OBJECTS,
    "mailgun": NOT_AN_OBJECT,
    "postmark": NOT_AN_OBJECT,
    "resend": NOT_AN_OBJECT,
    "mandrill": NOT_A_LIST_OF_OBJECTS,
    "ses": NOT_AN_OBJECT,
}


def captured_event(provider: str) -> Any:
    name, _ = SAMPLES[provider]
    payload = payload_of(provider, name)
    if provider == "ses":
        return json.loads(payload["Message"])
    return payload[0] if isinstance(payload, list) else payload


@pytest.fixture
def hooks(configure: Callable[..., None], fetcher: Fetcher) -> Fetcher:  # noqa: F811 - fixture
    configure(**real.SETTINGS)
    return fetcher


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    caplog.set_level(logging.WARNING, logger="postwarden.webhooks")

    def count() -> int:
        return sum(
            1
            for r in caplog.records
            if r.getMessage().startswith(("webhook payload refused", "webhook refused"))
        )

    return count


def check_refused(client: Client, provider: str, signed: real.Signed, refusals: Callable[[], int]) -> None:
    before = refusals()
    response = real.post(client, provider, signed)
    assert response.status_code == 400, (provider, signed.body, response.status_code, response.content)
    assert refusals() == before + 1
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("provider", list(SHAPES))
def test_it_answers_400_to_a_body_that_is_not_json(
    client: Client, hooks: Fetcher, refusals: Callable[[], int], provider: str
) -> None:
    @BOUNDED
    @given(NOT_JSON)
    def check(text: str) -> None:
        check_refused(client, provider, SHAPES[provider][0](text), refusals)

    check()


@pytest.mark.parametrize("provider", list(SHAPES))
def test_it_answers_400_to_json_of_the_wrong_shape(
    client: Client, hooks: Fetcher, refusals: Callable[[], int], provider: str
) -> None:
    @BOUNDED
    @given(WRONG[provider])
    def check(value: Any) -> None:
        check_refused(client, provider, SHAPES[provider][1](value), refusals)

    check()


@pytest.mark.parametrize("provider", list(SHAPES))
def test_it_answers_400_to_an_event_that_does_not_say_what_it_is(
    client: Client, hooks: Fetcher, refusals: Callable[[], int], sent: Callable[..., Recipient], provider: str
) -> None:
    _, path = SAMPLES[provider]

    @BOUNDED
    @given(st.none() | NOT_TEXT.map(lambda v: ("value", v)))
    def check(change: tuple[str, Any] | None) -> None:
        event = captured_event(provider)
        holder = event
        for key in path[:-1]:
            holder = holder[key]
        if change is None:
            del holder[path[-1]]
        else:
            holder[path[-1]] = change[1]
        check_refused(client, provider, SHAPES[provider][2](event), refusals)

    check()
    # the same captured event, untouched, is recorded: the refusals were the change's doing
    response = real.post(client, provider, SHAPES[provider][2](captured_event(provider)))
    assert response.status_code == 200


def test_it_answers_400_to_an_ses_inbound_notification_at_the_tracking_url(
    client: Client, hooks: Fetcher, refusals: Callable[[], int]
) -> None:
    received = real.captured("ses", "AmazonSESNotificationsTests.test_incorrect_received_event")
    check_refused(client, "ses", real.ses(received), refusals)


def test_it_answers_500_when_the_database_cannot_record_and_200_once_it_can(
    client: Client, hooks: Fetcher, sent: Callable[..., Recipient], caplog: pytest.LogCaptureFixture
) -> None:
    # the event table gone (a database not migrated, or one that fails under the request):
    # a retry can succeed, so the provider is told to send the event again
    recipient = sent("bounce@example.com", pmid="2706ee8a-737c-4285-b032-ccd317af53ed")
    body = real.postmark(
        json.dumps(payload_of("postmark", "PostmarkDeliveryTestCase.test_bounce_event")).encode()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Event._meta.db_table} RENAME TO gone")
    assert real.post(client, "postmark", body).status_code == 500
    assert "webhook event not recorded; the provider will send it again" in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE gone RENAME TO " + Event._meta.db_table)
    assert real.post(client, "postmark", body).status_code == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, the value itself included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    holder = value
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return value


@pytest.mark.parametrize("provider", list(SHAPES))
def test_a_captured_payload_with_any_part_replaced_is_recorded_or_refused_never_500(
    client: Client, hooks: Fetcher, provider: str
) -> None:
    # whatever part of a real payload is replaced by whatever JSON: 200 (recorded, or
    # ignored as an event type nobody asked for) or 400 with nothing recorded; a 500 would
    # have the provider send it again forever
    names = [n for n in real.every(provider) if (provider, n) not in WRONG_URL and "Subscription" not in n]

    @BOUNDED
    @given(st.sampled_from(names), st.data(), JSON)
    def check(name: str, data: st.DataObject, new: Any) -> None:
        payload = payload_of(provider, name)
        target = json.loads(payload["Message"]) if provider == "ses" else payload
        path = data.draw(st.sampled_from(_paths(target)[1:] or [()]))
        changed = _replaced(target, path, new)
        if provider == "ses":
            signed = real.ses_event(changed)
        elif provider == "mailgun" and "event-data" not in payload:
            signed = real.mailgun_legacy(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in changed.items()}
            )
        else:
            signed = real.SENDERS[provider](changed)
        events = Event.objects.count()
        response = real.post(client, provider, signed)
        assert response.status_code in (200, 400), (path, new, response.status_code, response.content)
        if response.status_code == 400:
            assert Event.objects.count() == events

    check()

"""Message composition through the API path (issue #8): hypothesis writes ``POST
/api/v1/messages`` bodies (the drafts of tests/core/test_message_properties.py, as JSON,
with line breaks, NUL and odd field names now and then), and for every one the API
either refuses it with a 4xx that says what is wrong and stores nothing, or answers 202
and the stored message, parsed by the standard library, reads back exactly what was
asked, with no header that was not asked for (the injection property), and the
recipients it will be sent to are exactly the ones asked for.

``PW_HYPOTHESIS_EXAMPLES`` raises the number of bodies (default 300 here)."""

from __future__ import annotations

import json
import os
from collections import Counter
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from email.policy import default
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.core.addresses import parse_address
from postwarden.core.config.model import RecipientMode
from postwarden.core.message import Composed, Draft
from postwarden.outbox.models import Message, Recipient
from tests.core.test_message_properties import (
    ADDRESS_LISTS,
    FIELD_NAMES,
    address_items,
    check_addresses,
    check_bodies,
    check_fields,
    check_lines,
    texts,
)
from tests.reliability.figures import report

EXAMPLES = int(os.environ.get("PW_HYPOTHESIS_EXAMPLES", "300"))
FROM = "ops@example.com"
pytestmark = pytest.mark.django_db

BODIES = st.fixed_dictionaries(
    {"to": ADDRESS_LISTS, "subject": texts(120)},
    optional={
        "from": address_items(),
        "cc": ADDRESS_LISTS,
        "bcc": ADDRESS_LISTS,
        "reply_to": ADDRESS_LISTS,
        "text": st.none() | texts(300),
        "html": st.none() | texts(300),
        "headers": st.dictionaries(FIELD_NAMES, texts(100), max_size=3),
    },
)

#: what this run saw: accepted / refused by status
SEEN: Counter[str] = Counter()


@pytest.fixture
def send_key(db: None) -> dict[str, str]:
    runtime.save({"MAIL_FROM": FROM})  # no MAIL_FROM_NAME, recipient mode bcc (the default)
    _, plain = ApiKey.issue("fuzz-compose", ["send"])
    return {"Authorization": f"Bearer {plain}"}


def draft_of(body: dict[str, Any], message_id: str) -> Draft:
    """The draft the API was asked for: the body, with the configured From when it has none."""
    return Draft(
        from_address=body.get("from") or FROM,
        from_name=None,
        to=body["to"],
        cc=body.get("cc", []),
        bcc=body.get("bcc", []),
        reply_to=body.get("reply_to", []),
        subject=body["subject"],
        text=body.get("text"),
        html=body.get("html"),
        headers=body.get("headers", {}),
        recipient_mode=RecipientMode.BCC,
        message_id=message_id,
    )


def parsed(raw: bytes) -> EmailMessage:
    head = raw.split(b"\r\n\r\n", 1)[0]
    if head.isascii():
        msg = BytesParser(policy=default).parsebytes(raw)
    else:  # RFC 6532 headers: the BytesParser reads only ASCII headers
        msg = Parser(policy=default).parsestr(raw.decode("utf-8"))
    assert isinstance(msg, EmailMessage)
    return msg


def test_it_stores_exactly_what_an_accepted_body_asked_and_refuses_the_rest(
    client: Client, send_key: dict[str, str], request: pytest.FixtureRequest
) -> None:
    SEEN.clear()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(BODIES)
    def check(body: dict[str, Any]) -> None:
        before = Message.objects.count()
        response = client.post(
            "/api/v1/messages", json.dumps(body), content_type="application/json", headers=send_key
        )
        if response.status_code != 202:
            SEEN[f"refused {response.status_code}"] += 1
            event(f"refused {response.status_code}")
            assert response.status_code in (400, 413, 422), (response.status_code, response.content)
            assert response.json()["detail"]  # says what is wrong
            assert Message.objects.count() == before  # and stored nothing
            return
        SEEN["accepted"] += 1
        event("accepted")
        check_accepted(body, response.json())

    check()
    report(request, "hypothesis: message composition through the API", bodies=sum(SEEN.values()), **SEEN)
    assert SEEN["accepted"] > EXAMPLES // 10  # the property was exercised, not only refusals


def check_accepted(body: dict[str, Any], answer: dict[str, Any]) -> None:
    message = Message.objects.get(public_id=answer["id"])
    raw = bytes(message.content.raw)
    draft = draft_of(body, message.message_id)
    composed = Composed(raw, message.message_id, message.envelope_from, (), message.needs_smtputf8, len(raw))
    check_lines(raw)
    msg = parsed(raw)
    check_fields(draft, composed, msg)  # exactly the asked fields, each once: no injection
    check_addresses(draft, msg)
    check_bodies(draft, msg)
    assert msg["Subject"] == draft.subject
    assert msg["Message-ID"] == message.message_id == answer["message_id"]
    for name, value in draft.headers.items():
        assert msg[name] == value
    # it goes to exactly the asked recipients (de-duplicated), each once
    asked = {
        parse_address(item).addr_spec.lower() for item in (*draft.to, *draft.cc, *draft.bcc) if item.strip()
    }
    stored = [r.lower() for r in Recipient.objects.filter(message=message).values_list("address", flat=True)]
    assert sorted(stored) == sorted(set(stored))
    assert set(stored) == asked
    assert {r["address"].lower() for r in answer["recipients"]} == asked

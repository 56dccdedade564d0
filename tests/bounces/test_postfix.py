"""The whole loop with a real MTA: Postwarden sends through a private Postfix (tests/postfix.py)
that accepts mail for example.test and knows only one user there; Postfix's own bounce
daemon writes the DSN for the unknown one and delivers it, over SMTP (STARTTLS when offered),
to Postwarden's bounce listener at the VERP return path, as BOUNCE_DOMAIN's MX would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwarden.bounces.models import Bounce
from postwarden.outbox.models import Attempt, Event, Recipient, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.bounces.helpers import ListenerThread, bounce_settings, bouncing_postfix
from tests.postfix import PostfixInstance

pytestmark = pytest.mark.django_db(transaction=True)
DOMAIN = "bounces.test"
#: seconds Postfix may take to bounce and deliver the DSN (qmgr, bounce, smtp)
DEADLINE = 60.0


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[ListenerThread]:
    thread = ListenerThread(tmp_path, domain=DOMAIN).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def postfix(listener: ListenerThread) -> Iterator[PostfixInstance]:
    with bouncing_postfix(DOMAIN, listener.port) as instance:
        yield instance


def deliver(port: int) -> None:
    settings = bounce_settings(smtp_port=port, domain=DOMAIN)

    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def wait_for(condition: object, deadline: float = DEADLINE) -> bool:
    """Poll a database condition (bounded): Postfix works on its own schedule."""
    assert callable(condition)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_postfixs_bounce_comes_back_to_the_listener_and_lands_on_the_timeline(
    postfix: PostfixInstance, listener: ListenerThread
) -> None:
    settings = bounce_settings(smtp_port=postfix.port, domain=DOMAIN)
    out = enqueue(
        Outgoing(to=["nobody@example.test", "known@example.test"], subject="Hi", text="x"), settings=settings
    )
    deliver(postfix.port)
    rows = {r.address: r for r in Recipient.objects.filter(message_id=out.pk)}
    # Postfix accepted both at RCPT; the unknown one's bounce may be back already
    assert rows["known@example.test"].state == "sent"
    assert rows["nobody@example.test"].state in ("sent", "bounced")
    assert Attempt.objects.get(recipient=rows["nobody@example.test"]).outcome == "sent"
    unknown = rows["nobody@example.test"]
    assert wait_for(lambda: Event.objects.filter(recipient=unknown, kind="bounced").exists()), (
        postfix.maillog.read_text()[-3000:]
    )
    event = Event.objects.get(recipient=unknown, kind="bounced")
    # Postfix's own words, verbatim, then the knowledge base's
    assert event.detail == (
        'X-Postfix; unknown user: "nobody@example.test" — The server refused the recipient: the mailbox '
        "does not exist, is disabled or cannot take mail now."
    )
    assert (event.raw["status"], event.raw["reporter"]) == ("5.1.1", "postfix.test")
    unknown.refresh_from_db()
    assert unknown.state == "bounced"
    bounce = Bounce.objects.get()
    assert (bounce.source, bounce.outcome, bounce.mail_from) == ("smtp", "applied", "")
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.reason) == ("nobody@example.test", "hard_bounce")
    # the known user is untouched, and the next message to the unknown one is refused
    rows["known@example.test"].refresh_from_db()
    assert rows["known@example.test"].state == "sent"
    again = enqueue(Outgoing(to=["nobody@example.test"], text="again"), settings=settings)
    [state] = again.recipients
    assert state.state == "suppressed"
    assert "hard bounce" in Recipient.objects.get(message_id=again.pk).reason
    assert "status=bounced" in postfix.maillog.read_text()

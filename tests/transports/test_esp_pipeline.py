"""End to end through a provider: enqueue -> worker -> SendGrid's API (local server) ->
provider message id stored -> SendGrid's bounce webhook -> bounced, suppressed -> the next
message to that address is suppressed at enqueue."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer

from postwarden.core.config.model import Provider, Settings
from postwarden.core.config.resolve import resolve_environment
from postwarden.outbox.models import Attempt, Recipient, Suppression
from postwarden.outbox.submission import FileIn, Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from postwarden.webhooks import views
from tests import providers as p
from tests.factories import make_settings

pytestmark = pytest.mark.django_db(transaction=True)


def sendgrid_settings(server: HTTPServer, data_dir: Path) -> Settings:
    base = make_settings(data_dir=data_dir)
    return replace(
        base, sending=replace(base.sending, provider=Provider.SENDGRID), provider=p.SENDGRID.settings(server)
    )


def run_worker(settings: Settings) -> None:
    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="w-esp"), settings_source=lambda: settings)
        assert await worker.claim_step()
        job = worker.jobs.get_nowait()
        assert job is not None
        await worker.send_job(job)
        assert await worker.flush_step()

    asyncio.run(steps())


def test_it_sends_through_a_provider_and_suppresses_after_its_bounce_webhook(
    httpserver: HTTPServer, tmp_path: Path, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sendgrid_settings(httpserver, tmp_path)
    p.sendgrid_accepted(httpserver)
    out = enqueue(Outgoing(to=["ann@example.net"], subject="Disk full", text="Full."), settings=config)
    run_worker(config)

    recipient = Recipient.objects.get()
    sent = json.loads(httpserver.log[-1][0].get_data())
    anymail_id = sent["personalizations"][0]["custom_args"]["anymail_id"]
    assert (recipient.state, recipient.provider_message_id, recipient.transport) == (
        "sent",
        anymail_id,
        "sendgrid",
    )
    assert sent["headers"]["Message-ID"] == out.message_id
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.stage, attempt.provider_message_id) == ("sent", "api", anymail_id)

    settings.ROOT_URLCONF = "tests.webhooks.urls"
    hooks = resolve_environment(
        stored={"POSTWARDEN_WEBHOOK_SECRET": "hooks:pw-77aa"}, environ={}, dotenv=None
    )
    monkeypatch.setattr(views, "load_settings", lambda: hooks)
    bounce = [
        {
            "email": "ann@example.net",
            "timestamp": 1764000000,
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 user unknown",
            "sg_event_id": "sg-e2e-1",
            "sg_message_id": "x.filter0001",
            "anymail_id": anymail_id,
        }
    ]
    auth = {"Authorization": "Basic " + base64.b64encode(b"hooks:pw-77aa").decode()}
    response = client.post(
        "/webhooks/sendgrid/tracking/", json.dumps(bounce), content_type="application/json", headers=auth
    )
    assert response.status_code == 200
    recipient.refresh_from_db()
    assert recipient.state == "bounced"
    assert Suppression.objects.get().address == "ann@example.net"

    again = enqueue(
        Outgoing(to=["ann@example.net"], subject="Disk still full", text="Full."), settings=config
    )
    assert Recipient.objects.get(message__public_id=again.public_id).state == "suppressed"


def test_it_records_a_provider_refusal_with_its_status(httpserver: HTTPServer, tmp_path: Path) -> None:
    config = sendgrid_settings(httpserver, tmp_path)
    p.SENDGRID.answer(httpserver, 400, p.ERRORS[Provider.SENDGRID][400])
    enqueue(Outgoing(to=["ann@example.net"], subject="Disk full", text="Full."), settings=config)
    run_worker(config)
    recipient = Recipient.objects.get()
    attempt = Attempt.objects.get()
    # a provider's 4xx is permanent (outbox/retry.py reads http_status as esp.py documents it)
    assert (recipient.state, attempt.outcome, attempt.stage, attempt.permanent) == (
        "failed",
        "failed",
        "api",
        True,
    )
    assert json.loads(attempt.reply) == p.ERRORS[Provider.SENDGRID][400]


def test_an_api_message_with_files_reaches_the_provider_through_the_worker(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    # the worker hands the provider the parts it reads from the database; the files come
    # from the stored MIME, byte for byte
    config = sendgrid_settings(httpserver, tmp_path)
    p.sendgrid_accepted(httpserver)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    enqueue(
        Outgoing(
            to=["ann@example.net"],
            subject="Invoice",
            text="Attached.",
            html='<img src="cid:logo"> Attached.',
            attachments=[
                FileIn("invoice.pdf", pdf),
                FileIn("logo.png", b"\x89PNG\r\n\x1a\nx", content_id="logo"),
            ],
        ),
        settings=config,
    )
    run_worker(config)
    sent = json.loads(httpserver.log[-1][0].get_data())
    files = {
        (
            a["filename"],
            a["type"],
            a.get("disposition", "attachment"),
            a.get("content_id", ""),
        ): hashlib.sha256(base64.b64decode(a["content"])).hexdigest()
        for a in sent["attachments"]
    }
    assert files == {
        ("invoice.pdf", "application/pdf", "attachment", ""): hashlib.sha256(pdf).hexdigest(),
        ("logo.png", "image/png", "inline", "logo"): hashlib.sha256(b"\x89PNG\r\n\x1a\nx").hexdigest(),
    }
    assert Recipient.objects.get().state == "sent"

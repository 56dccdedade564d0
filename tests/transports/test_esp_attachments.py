"""Attachments and inline images through every provider API, against local servers
answering as each provider documents (tests/providers.py): the message is composed by
core.message as the API composes it, the delivery carries the parts the worker reads
from the database, and the provider receives each file's exact bytes, name, type and
(for inline parts) Content-ID, read back in the provider's own request format."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from postwarden.core.attachments import make
from postwarden.core.message import Draft, compose
from postwarden.transports.base import Outcome, Parts, TransportDelivery
from tests import providers as p
from tests.transports.test_esp_http import send

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 16
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
NAME = "Facture été.pdf"
HTML = '<p>Hi</p><img src="cid:logo">'


def delivery() -> TransportDelivery:
    files = [make(NAME, PDF), make("logo.png", PNG, content_id="logo")]
    composed = compose(
        Draft(
            from_address="billing@example.com",
            to=["ann@example.net"],
            subject="Invoice",
            text="Hi",
            html=HTML,
            attachments=files,
        )
    )
    parts = Parts(
        from_address="billing@example.com",
        subject="Invoice",
        text="Hi",
        html=HTML,
        to=("ann@example.net",),
        headers={"Message-ID": composed.message_id},
    )
    return TransportDelivery(
        1, "m_1", composed.message_id, "billing@example.com", ("ann@example.net",), composed.raw, parts=parts
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: (name, sha256, type, content id or "") of each file, from the provider's request
Files = set[tuple[str, str, str, str]]


def _json(server: HTTPServer) -> Any:
    request, _ = server.log[-1]
    return json.loads(request.get_data())


def sendgrid_files(server: HTTPServer) -> Files:
    return {
        (a["filename"], sha(base64.b64decode(a["content"])), a["type"], a.get("content_id", ""))
        for a in _json(server)["attachments"]
    }


def mailgun_files(server: HTTPServer) -> Files:
    request, _ = server.log[-1]
    found = set()
    for field in ("attachment", "inline"):
        for upload in request.files.getlist(field):
            cid = upload.filename if field == "inline" else ""
            name = NAME if field == "attachment" else "logo.png"
            assert field == "inline" or upload.filename == NAME
            found.add((name, sha(upload.read()), upload.mimetype, cid))
    return found


def postmark_files(server: HTTPServer) -> Files:
    return {
        (
            a["Name"],
            sha(base64.b64decode(a["Content"])),
            a["ContentType"],
            a.get("ContentID", "").removeprefix("cid:"),
        )
        for a in _json(server)["Attachments"]
    }


def resend_files(server: HTTPServer) -> Files:
    return {
        (a["filename"], sha(base64.b64decode(a["content"])), a["content_type"], a.get("content_id", ""))
        for a in _json(server)["attachments"]
    }


def mandrill_files(server: HTTPServer) -> Files:
    message = _json(server)["message"]
    files = {(a["name"], sha(base64.b64decode(a["content"])), a["type"], "") for a in message["attachments"]}
    # Mandrill names an inline image by its Content-ID
    images = {
        ("logo.png", sha(base64.b64decode(i["content"])), i["type"], i["name"]) for i in message["images"]
    }
    return files | images


CASES: list[tuple[p.Api, Callable[[HTTPServer], None], Callable[[HTTPServer], Files]]] = [
    (p.SENDGRID, p.sendgrid_accepted, sendgrid_files),
    (p.MAILGUN, p.mailgun_queued, mailgun_files),
    (p.POSTMARK, p.postmark_ok, postmark_files),
    (p.RESEND, p.resend_ok, resend_files),
    (p.MANDRILL, lambda s: p.mandrill_results(s, {"ann@example.net": ("sent", None)}), mandrill_files),
]


@pytest.mark.parametrize(("api", "accept", "files_of"), CASES, ids=[c[0].provider.value for c in CASES])
def test_each_provider_receives_the_files_byte_for_byte(
    httpserver: HTTPServer,
    api: p.Api,
    accept: Callable[[HTTPServer], None],
    files_of: Callable[[HTTPServer], Files],
) -> None:
    accept(httpserver)
    [result] = send(api.settings(httpserver), delivery())
    assert result.outcome is Outcome.SENT, result.detail
    assert files_of(httpserver) == {
        (NAME, sha(PDF), "application/pdf", ""),
        ("logo.png", sha(PNG), "image/png", "logo"),
    }


def test_a_retry_sends_the_same_files(httpserver: HTTPServer) -> None:
    p.SENDGRID.answer(httpserver, 503, {"errors": [{"message": "unavailable"}]})
    p.sendgrid_accepted(httpserver)
    d = delivery()
    [first] = send(p.SENDGRID.settings(httpserver), d)
    [second] = send(p.SENDGRID.settings(httpserver), d)
    assert (first.outcome, second.outcome) == (Outcome.FAILED, Outcome.SENT)
    sent = [json.loads(request.get_data())["attachments"] for request, _ in httpserver.log]
    assert sent[0] == sent[1]


def test_a_relayed_message_keeps_its_files_through_an_api(httpserver: HTTPServer) -> None:
    # stored as MIME only (the relay): the parts, files included, are read from it
    p.resend_ok(httpserver)
    d = delivery()
    bare = TransportDelivery(1, "m_1", d.message_id, d.envelope_from, d.recipients, d.raw)
    [result] = send(p.RESEND.settings(httpserver), bare)
    assert result.outcome is Outcome.SENT
    assert resend_files(httpserver) == {
        (NAME, sha(PDF), "application/pdf", ""),
        ("logo.png", sha(PNG), "image/png", "logo"),
    }

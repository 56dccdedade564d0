"""Attachments and inline images on POST /api/v1/messages and /batch: what is refused and
why, and what a real SMTP server receives, read by two unrelated MIME parsers."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.models import Message
from tests.api.test_messages_e2e import deliver_until
from tests.mime_check import perl_parts
from tests.smtpd import SmtpServer

URL = "/api/v1/messages"
#: a small but real PDF, with bytes of every value (a text conversion would change them)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
#: a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
#: a minimal Windows program header: "MZ", e_lfanew = 0x40, then "PE\0\0"
PE = b"MZ" + b"\0" * 58 + (0x40).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 32


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


def headers(*scopes: str) -> dict[str, str]:
    _, plain = ApiKey.issue("shop", list(scopes or ("send", "read")))
    return {"Authorization": f"Bearer {plain}"}


def post(client: Client, body: Any, url: str = URL) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers())


def message(**extra: Any) -> dict[str, Any]:
    return {"to": ["alice@example.com"], "subject": "Invoice", "text": "Attached.", **extra}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_pdf_and_an_inline_logo_reach_the_server_byte_for_byte_on_every_attempt(
    smtpd_factory: Callable[..., SmtpServer], client: Client
) -> None:
    server = smtpd_factory()
    server.inject("DATA", "451 4.3.0 Try again later", times=1)
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "billing@example.com",
        }
    )
    name = "Rechnung März 2026 – Kunde Nº 42.pdf"
    created = post(
        client,
        message(
            html='<p>Your invoice</p><img src="cid:logo@example.com" alt="Logo">',
            attachments=[
                {"filename": name, "content": b64(PDF)},
                {"filename": "logo.png", "content": b64(PNG), "content_id": "logo@example.com"},
            ],
        ),
    )
    assert created.status_code == 202, created.json()
    deliver_until(lambda: len(server.delivered) == 1)
    # the refused attempt and the accepted one carried the same bytes
    assert len(server.messages) == 2
    assert server.messages[0].data == server.messages[1].data
    raw = server.delivered[0].data

    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/mixed"
    [pdf] = list(parsed.iter_attachments())
    assert (pdf.get_filename(), pdf.get_content_type(), sha(pdf.get_content())) == (
        name,
        "application/pdf",  # guessed from the name
        sha(PDF),
    )
    related = parsed.get_body(preferencelist=("related",))
    assert related is not None
    logo = next(p for p in related.walk() if p.get("Content-ID"))
    assert (logo["Content-ID"], sha(logo.get_content())) == ("<logo@example.com>", sha(PNG))
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert 'src="cid:logo@example.com"' in html.get_content()

    # the same facts from Perl's MIME::Parser
    leaves = {leaf.type: leaf for leaf in perl_parts(raw)}
    assert (leaves["application/pdf"].filename, leaves["application/pdf"].sha256) == (name, sha(PDF))
    assert leaves["application/pdf"].disposition == "attachment"
    assert (leaves["image/png"].content_id, leaves["image/png"].sha256) == ("<logo@example.com>", sha(PNG))
    assert leaves["image/png"].disposition == "inline"
    assert 'src="cid:logo@example.com"' in leaves["text/html"].text
    assert leaves["text/plain"].text.rstrip() == "Attached."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("attachment", "status", "field", "words"),
    [
        ({"filename": "a.pdf", "content": "not base64!"}, 400, "attachments[0].content", "base64"),
        ({"filename": "setup.exe", "content": b64(b"hello")}, 400, "attachments[0]", ".exe files"),
        ({"filename": "run.JS", "content": b64(b"alert(1)")}, 400, "attachments[0]", ".js files"),
        (
            {"filename": "a.bin", "content": b64(b"x"), "content_type": "application/x-msdownload"},
            400,
            "attachments[0]",
            "executable type",
        ),
        ({"filename": "invoice.pdf", "content": b64(PE)}, 400, "attachments[0]", "is a program"),
        ({"filename": "a\r\nBcc: x@example.net", "content": b64(b"x")}, 400, "attachments[0]", "line break"),
        ({"filename": "../etc/passwd", "content": b64(b"x")}, 400, "attachments[0]", "path separator"),
        (
            {"filename": "a.txt", "content": b64(b"x"), "content_type": "text"},
            400,
            "attachments[0]",
            "type/subtype",
        ),
        (
            {"filename": "a.png", "content": b64(PNG), "content_id": "lo go>"},
            400,
            "attachments[0]",
            "content_id",
        ),
        (
            {"filename": "big.bin", "content": b64(b"\0" * 3000)},
            413,
            "attachments[0]",
            "POSTWARDEN_MAX_ATTACHMENT_BYTES",
        ),
    ],
)
def test_it_refuses_a_bad_attachment_and_names_it(
    client: Client, attachment: dict[str, Any], status: int, field: str, words: str
) -> None:
    runtime.save({"MAIL_FROM": "billing@example.com", "POSTWARDEN_MAX_ATTACHMENT_BYTES": "2048"})
    response = post(client, message(attachments=[attachment]))
    assert response.status_code == status, response.json()
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_the_whole_message_is_held_to_the_message_limit(client: Client) -> None:
    runtime.save({"MAIL_FROM": "billing@example.com", "POSTWARDEN_MAX_MESSAGE_BYTES": "4096"})
    files = [{"filename": f"part{i}.bin", "content": b64(bytes(1500))} for i in range(3)]
    response = post(client, message(attachments=files))
    assert response.status_code == 413
    assert "POSTWARDEN_MAX_MESSAGE_BYTES" in response.json()["detail"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_the_same_content_id_twice(client: Client) -> None:
    runtime.save({"MAIL_FROM": "billing@example.com"})
    logo = {"filename": "logo.png", "content": b64(PNG), "content_id": "logo"}
    response = post(client, message(html="<img src='cid:logo'>", attachments=[logo, logo]))
    assert response.status_code == 400
    assert "given twice" in response.json()["detail"]


@pytest.mark.django_db
def test_a_declared_type_wins_and_an_unknown_name_is_octet_stream(client: Client) -> None:
    runtime.save({"MAIL_FROM": "billing@example.com"})
    response = post(
        client,
        message(
            attachments=[
                {"filename": "report", "content": b64(b"a,b\r\n1,2\r\n"), "content_type": "text/csv"},
                {"filename": "blob.unknownext", "content": b64(b"\x00\x01")},
            ]
        ),
    )
    assert response.status_code == 202
    raw = bytes(Message.objects.get().content.raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    found = [
        (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
        for p in parsed.iter_attachments()
    ]
    assert found == [
        ("report", "text/csv", b"a,b\r\n1,2\r\n"),
        ("blob.unknownext", "application/octet-stream", b"\x00\x01"),
    ]


@pytest.mark.django_db
def test_the_batch_route_takes_attachments_and_refuses_only_the_bad_message(client: Client) -> None:
    runtime.save({"MAIL_FROM": "billing@example.com"})
    good = message(attachments=[{"filename": "a.csv", "content": b64(b"x,y\n")}])
    bad = message(attachments=[{"filename": "a.scr", "content": b64(b"x")}])
    response = post(client, {"messages": [good, bad]}, url=f"{URL}/batch")
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["refused"]) == (1, 1)
    assert body["results"][1]["error"]["field"] == "attachments[0]"
    raw = bytes(Message.objects.get().content.raw)
    assert b'filename="a.csv"' in raw


@pytest.mark.django_db
def test_the_openapi_schema_documents_attachments(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    attachment = schema["components"]["schemas"]["AttachmentIn"]
    assert set(attachment["properties"]) == {"filename", "content_type", "content", "content_id"}
    assert set(attachment["required"]) == {"filename", "content"}
    message_in = schema["components"]["schemas"]["MessageIn"]["properties"]["attachments"]
    assert message_in["items"] == {"$ref": "#/components/schemas/AttachmentIn"}

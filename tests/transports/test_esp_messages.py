"""How a delivery becomes API calls: recipients placed as composed, hidden ones kept hidden,
and parts rebuilt from stored MIME when a delivery comes without them."""

from __future__ import annotations

from postwarden.transports.base import Parts
from postwarden.transports.esp_messages import Call, api_message, parts_from_raw, plan_calls, raw_message

PARTS = Parts(
    from_address="alerts@example.com",
    to=("Ann <ann@example.net>", "bob@example.org"),
    cc=("Cy <cy@example.org>",),
)


def test_it_keeps_to_and_cc_as_composed_and_hides_the_rest() -> None:
    calls = plan_calls(("ann@example.net", "cy@example.org", "hid@example.org"), PARTS)
    assert calls == [
        Call(
            ("Ann <ann@example.net>",),
            ("Cy <cy@example.org>",),
            ("hid@example.org",),
            ("ann@example.net", "cy@example.org", "hid@example.org"),
        )
    ]


def test_it_moves_cc_to_to_when_nobody_in_to_is_in_this_delivery() -> None:
    assert plan_calls(("cy@example.org", "hid@example.org"), PARTS) == [
        Call(("Cy <cy@example.org>",), (), ("hid@example.org",), ("cy@example.org", "hid@example.org"))
    ]


def test_it_gives_each_hidden_recipient_its_own_call() -> None:
    assert plan_calls(("x@example.org", "y@example.org"), Parts(from_address="a@example.com")) == [
        Call(("x@example.org",), (), (), ("x@example.org",)),
        Call(("y@example.org",), (), (), ("y@example.org",)),
    ]


def test_it_drops_headers_the_api_owns_and_keeps_the_rest() -> None:
    parts = Parts(
        from_address="a@example.com",
        from_name="Alerts",
        subject="Hi",
        html="<p>Hi</p>",
        headers={"Message-ID": "<m1@x>", "Subject": "spoof", "X-App": "1"},
    )
    message = api_message(parts, Call(("b@example.org",), (), (), ("b@example.org",)))
    assert (message.from_email, message.subject, message.body, message.content_subtype) == (
        "Alerts <a@example.com>",
        "Hi",
        "<p>Hi</p>",
        "html",
    )
    assert message.extra_headers == {"Message-ID": "<m1@x>", "X-App": "1"}


def test_it_rebuilds_parts_from_stored_mime() -> None:
    raw = (
        b"From: Alerts <alerts@example.com>\r\nTo: Ann <ann@example.net>\r\nCc: cy@example.org\r\n"
        b"Reply-To: help@example.com\r\nSubject: Disk full\r\nMessage-ID: <m1@postwarden.example.com>\r\n"
        b"X-App: metabase\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFull.\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Full.</p>\r\n--b--\r\n"
    )
    parts = parts_from_raw(raw)
    assert (parts.from_address, parts.from_name, parts.subject) == (
        "alerts@example.com",
        "Alerts",
        "Disk full",
    )
    assert (parts.to, parts.cc, parts.reply_to) == (
        ("Ann <ann@example.net>",),
        ("cy@example.org",),
        ("help@example.com",),
    )
    assert (parts.text, parts.html) == ("Full.", "<p>Full.</p>")
    assert parts.headers == {"Message-ID": "<m1@postwarden.example.com>", "X-App": "metabase"}


def test_it_hands_ses_the_stored_bytes_without_bcc() -> None:
    from postwarden.transports.base import TransportDelivery

    raw = b"From: a@example.com\r\nTo: b@example.org\r\nBcc: c@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    delivery = TransportDelivery(
        message_pk=1,
        public_id="m",
        message_id="<m@x>",
        envelope_from="bounce@example.com",
        recipients=("b@example.org", "c@example.org"),
        raw=raw,
    )
    message = raw_message(delivery)
    mime = message.message()
    assert (mime["Subject"], mime["Bcc"], mime.get_payload()) == ("s", None, "body\r\n")
    assert (message.from_email, message.bcc) == ("bounce@example.com", ["b@example.org", "c@example.org"])

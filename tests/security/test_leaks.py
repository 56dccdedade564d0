"""The secrets sweep's detector finds each recognisable form of a secret (so a sweep that
finds nothing means nothing leaked, not that it looked for the wrong thing)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.security.leaks import SMTP_USER, STORED, Leak, Secret, dkim_key, seeded, sweep

PASSWORD = Secret("store:SMTP_PASSWORD", STORED["SMTP_PASSWORD"])


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (f"password={PASSWORD.value}", "value"),
        (f"starts {PASSWORD.value[:8]}…", "first 8"),
        (f"?p={quote(PASSWORD.value, safe='')}", "url-encoded"),
        (json.dumps({"p": PASSWORD.value}), "value"),
        (
            "C: AUTH PLAIN " + base64.b64encode(f"\0{SMTP_USER}\0{PASSWORD.value}".encode()).decode(),
            "auth plain",
        ),
        ("C: " + base64.b64encode(PASSWORD.value.encode()).decode(), "base64+0"),
        ("C: " + base64.b64encode(f"\0x\0{PASSWORD.value}".encode()).decode(), "base64+0"),
        ("C: " + base64.b64encode(f"\0xy\0{PASSWORD.value}".encode()).decode(), "base64+1"),
        ("C: " + base64.b64encode(f"\0xyz\0{PASSWORD.value}".encode()).decode(), "base64+2"),
    ],
)
def test_it_finds_each_form_of_a_secret(text: str, form: str) -> None:
    assert Leak("page", PASSWORD.label, form) in sweep({"page": text}, [PASSWORD])


def test_it_finds_a_line_of_a_private_key_and_not_its_common_start() -> None:
    key = Secret("dkim", dkim_key())
    line = key.value.splitlines()[3]
    assert sweep({"log": f"key {line} end"}, [key]) == [Leak("log", "dkim", "pem line 2")]
    assert sweep({"log": "-----BEGIN PRIVATE KEY-----\nMIICdwIBADANBgkqhkiG9w0BAQEFAASC"}, [key]) == []


def test_it_does_not_take_the_masked_form_for_a_leak() -> None:
    masked = "\u2022\u2022\u2022\u2022" + PASSWORD.value[-4:]
    assert sweep({"page": f"<td>{masked}</td>"}, seeded()) == []

"""``postwarden explain`` speaks the reader's language; its JSON and the server's words do not change."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPLY = "535 5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials"


def explain(*argv: str, lang: str) -> subprocess.CompletedProcess[str]:
    """``postwarden explain ARGV`` as a user runs it, with ``LANG`` and nothing else choosing the language."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env = {k: v for k, v in env.items() if not k.startswith("POSTWARDEN_")}
    env["LANG"] = lang
    return subprocess.run(
        [sys.executable, "-m", "postwarden", "explain", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def joined(text: str) -> str:
    return " ".join(text.split())


def test_it_explains_in_persian_and_quotes_the_reply_verbatim() -> None:
    english = explain(REPLY, "--host", "smtp.gmail.com", lang="en_US.UTF-8").stdout
    persian = explain(REPLY, "--host", "smtp.gmail.com", lang="fa_IR.UTF-8").stdout
    assert "What it means:" in english
    assert "The server rejected the username or password." in english
    # the reply is the server's words: the same bytes in both
    assert REPLY in joined(persian)
    assert "معنایش:" in persian
    assert "چه باید کرد:" in persian
    assert "سرور نام کاربری یا گذرواژه را نپذیرفت." in persian
    # the provider's advice and every numbered step are said in Persian, numbered in Persian digits
    assert "Google گذرواژهٔ حساب را برای SMTP نمی‌پذیرد." in joined(persian)
    assert "  ۱. " in persian
    assert "  1. " not in persian
    # nothing of the English title, meaning, advice or steps is left: what stays is the
    # server's words and the provider's name
    english_lines = set(english.splitlines()) - {"", "Gmail / Google Workspace:"}
    kept = [line for line in persian.splitlines() if line in english_lines]
    assert all(line.strip() in REPLY for line in kept), kept


@pytest.mark.parametrize(
    "argv",
    [
        [REPLY, "--host", "smtp.gmail.com"],
        [
            "450 4.2.0 <b@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/"
        ],
        ["dial tcp: lookup smtp.example.invalid: no such host"],
        ["599 something nobody wrote a rule for"],
    ],
)
def test_its_json_is_the_same_bytes_in_every_language(argv: list[str]) -> None:
    outputs = {
        lang: explain(*argv, "--json", lang=lang).stdout for lang in ("C.UTF-8", "fa_IR.UTF-8", "en_XA.UTF-8")
    }
    assert outputs["fa_IR.UTF-8"] == outputs["C.UTF-8"] == outputs["en_XA.UTF-8"]
    assert '"explanation": "' in outputs["C.UTF-8"]

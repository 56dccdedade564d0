"""Metabase's MB_EMAIL_* variables become ours by what Metabase does on the wire."""

from __future__ import annotations

import pytest

from postwarden.core.config.importers import Imported, load
from postwarden.core.config.model import Origin, RecipientMode, Security
from postwarden.core.config.resolve import Layer, resolve

PASSWORD = "mb-Pa55-ΩZQX-271828"
BASE = {"MB_EMAIL_SMTP_HOST": "smtp.example.com", "MB_EMAIL_SMTP_PORT": "587"}


def imported(**env: str) -> Imported:
    return load("metabase-env", environ={**BASE, **env})


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("none", "none"),
        ("ssl", "ssl"),
        ("tls", "opportunistic"),
        ("starttls", "starttls"),
        ("TLS", "opportunistic"),
    ],
)
def test_it_translates_security_by_what_javamail_does(theirs: str, ours: str) -> None:
    result = imported(MB_EMAIL_SMTP_SECURITY=theirs)
    assert result.values["SMTP_SECURITY"] == ours
    assert result.origins["SMTP_SECURITY"] == "MB_EMAIL_SMTP_SECURITY"


def test_it_says_that_metabase_tls_is_opportunistic() -> None:
    result = imported(MB_EMAIL_SMTP_SECURITY="tls")
    assert (
        "MB_EMAIL_SMTP_SECURITY=tls means opportunistic STARTTLS in Metabase (upgrade when the server offers "
        "it, else continue in plain text): imported as SMTP_SECURITY=opportunistic"
    ) in result.notes


def test_it_imports_the_connection_and_credentials() -> None:
    result = imported(
        MB_EMAIL_SMTP_SECURITY="starttls",
        MB_EMAIL_SMTP_USERNAME="apikey",
        MB_EMAIL_SMTP_PASSWORD=PASSWORD,
        MB_EMAIL_FROM_ADDRESS="bi@example.com",
        MB_EMAIL_FROM_NAME="Reports",
        MB_SITE_URL="https://bi.example.com",
    )
    assert result.values == {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_SECURITY": "starttls",
        "SMTP_USER": "apikey",
        "SMTP_PASSWORD": PASSWORD,
        "MAIL_FROM": "bi@example.com",
        "MAIL_FROM_NAME": "Reports",
        "APP_URL": "https://bi.example.com",
    }
    assert result.origins["SMTP_PASSWORD"] == "MB_EMAIL_SMTP_PASSWORD"
    assert not any(PASSWORD in note for note in result.notes)


def test_it_applies_metabases_defaults_when_email_is_configured() -> None:
    result = load("metabase-env", environ={"MB_EMAIL_SMTP_HOST": "smtp.example.com"})
    assert result.values["SMTP_SECURITY"] == "none"
    assert result.origins["SMTP_SECURITY"] == "MB_EMAIL_SMTP_SECURITY (unset: Metabase's default)"
    assert result.values["SMTP_PORT"] == "25"
    assert result.values["MAIL_FROM"] == "notifications@metabase.com"
    assert "MB_EMAIL_SMTP_SECURITY is not set: Metabase's default is none (plain text)" in result.notes


def test_it_uses_javamails_implicit_tls_port_for_ssl_without_a_port() -> None:
    result = load(
        "metabase-env", environ={"MB_EMAIL_SMTP_HOST": "h.example.com", "MB_EMAIL_SMTP_SECURITY": "ssl"}
    )
    assert result.values["SMTP_PORT"] == "465"


def test_it_says_when_metabase_is_not_configured_by_environment() -> None:
    result = load("metabase-env", environ={"PATH": "/usr/bin"})
    assert result.values == {}
    assert result.notes[0].startswith(
        "MB_EMAIL_SMTP_HOST is not set, so Metabase counts email as not configured"
    )


def test_it_splits_a_display_name_given_as_the_from_address() -> None:
    # mission-anchors E7: 'Metabase <bi@…>' as MB_EMAIL_FROM_ADDRESS sent from user@hostname
    result = imported(MB_EMAIL_FROM_ADDRESS="Metabase <bi@example.com>")
    assert (result.values["MAIL_FROM"], result.values["MAIL_FROM_NAME"]) == ("bi@example.com", "Metabase")
    assert result.origins["MAIL_FROM_NAME"] == "MB_EMAIL_FROM_ADDRESS"
    assert any(
        note.startswith("MB_EMAIL_FROM_ADDRESS holds a display name and an address: split")
        for note in result.notes
    )


def test_it_prefers_the_from_name_setting_over_a_name_in_the_address() -> None:
    result = imported(MB_EMAIL_FROM_ADDRESS="Metabase <bi@example.com>", MB_EMAIL_FROM_NAME="BI: Reports")
    assert (result.values["MAIL_FROM"], result.values["MAIL_FROM_NAME"]) == ("bi@example.com", "BI: Reports")
    assert any("recent Metabase versions refuse" in note for note in result.notes)


@pytest.mark.parametrize(
    ("raw", "first"),
    [
        ('["help@example.com"]', "help@example.com"),
        ("['help@example.com']", "help@example.com"),
        ("help@example.com", "help@example.com"),
    ],
)
def test_it_reads_reply_to_lists_as_metabase_docs_write_them(raw: str, first: str) -> None:
    assert imported(MB_EMAIL_REPLY_TO=raw).values["MAIL_REPLY_TO"] == first


def test_it_takes_the_first_reply_to_and_names_the_rest() -> None:
    result = imported(MB_EMAIL_REPLY_TO="['a@example.com', 'b@example.com', 'c@example.com']")
    assert result.values["MAIL_REPLY_TO"] == "a@example.com"
    assert (
        "MB_EMAIL_REPLY_TO lists 3 addresses; MAIL_REPLY_TO takes one, so a@example.com is used and "
        "b@example.com, c@example.com left out"
    ) in result.notes


@pytest.mark.parametrize("raw", ["[1, 2]", "['unclosed", "[__import__('os').getcwd()]"])
def test_it_leaves_out_a_reply_to_that_is_not_a_list_of_addresses(raw: str) -> None:
    result = imported(MB_EMAIL_REPLY_TO=raw)
    assert "MAIL_REPLY_TO" not in result.values
    assert any(note.startswith("MB_EMAIL_REPLY_TO is not a list Metabase can read") for note in result.notes)


@pytest.mark.parametrize(("raw", "mode"), [("true", "bcc"), ("FALSE", "cc")])
def test_it_maps_bcc_enabled_to_the_recipient_mode(raw: str, mode: str) -> None:
    result = imported(MB_BCC_ENABLED=raw)
    assert result.values["MAIL_RECIPIENT_MODE"] == mode
    assert result.origins["MAIL_RECIPIENT_MODE"] == "MB_BCC_ENABLED"


def test_it_normalizes_allowed_domains_to_a_list_without_spaces() -> None:
    result = imported(MB_SUBSCRIPTION_ALLOWED_DOMAINS=" example.com, example.org ,")
    assert result.values["MAIL_ALLOWED_DOMAINS"] == "example.com,example.org"


def test_it_leaves_out_an_unknown_security_word_with_a_note() -> None:
    result = imported(MB_EMAIL_SMTP_SECURITY="implicit")
    assert "SMTP_SECURITY" not in result.values
    assert (
        "MB_EMAIL_SMTP_SECURITY='implicit' is not a value Metabase accepts (none, ssl, tls, starttls); "
        "not imported"
    ) in result.notes


def test_it_feeds_the_resolver_which_names_the_metabase_variable() -> None:
    result = imported(MB_EMAIL_SMTP_SECURITY="tls", MB_BCC_ENABLED="false", MB_EMAIL_SMTP_PASSWORD=PASSWORD)
    settings = resolve(Layer(Origin.IMPORT, result.values, result.origins))
    assert settings.smtp.security is Security.OPPORTUNISTIC
    assert settings.smtp.password.reveal() == PASSWORD
    assert settings.sending.recipient_mode is RecipientMode.CC
    assert settings.source("SMTP_SECURITY").describe() == "imported (MB_EMAIL_SMTP_SECURITY)"

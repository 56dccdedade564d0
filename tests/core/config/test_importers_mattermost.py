"""A Mattermost config.json becomes our settings by what Mattermost does on the wire;
MM_EMAILSETTINGS_* overrides win, as in Mattermost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postwarden.core.config.importers import ImporterError, load
from postwarden.core.config.model import Origin, Security
from postwarden.core.config.resolve import Layer, resolve

PASSWORD = "mm-Pa55-ΩZQX-161803"


def write(tmp_path: Path, email: dict[str, object], service: dict[str, object] | None = None) -> str:
    path = tmp_path / "config.json"
    config: dict[str, object] = {"EmailSettings": email}
    if service is not None:
        config["ServiceSettings"] = service
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return str(path)


def configured(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "SMTPServer": "smtp.example.com",
        "SMTPPort": "587",
        "ConnectionSecurity": "STARTTLS",
        "EnableSMTPAuth": True,
        "SMTPUsername": "mm@example.com",
        "SMTPPassword": PASSWORD,
        "FeedbackEmail": "mm@example.com",
        "FeedbackName": "Mattermost",
        "ReplyToAddress": "help@example.com",
        "SendEmailNotifications": True,
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("theirs", "ours"), [("", "none"), ("PLAIN", "none"), ("TLS", "ssl"), ("STARTTLS", "starttls")]
)
def test_it_translates_connection_security_by_what_mattermost_does(
    tmp_path: Path, theirs: str, ours: str
) -> None:
    result = load(f"mattermost:{write(tmp_path, configured(ConnectionSecurity=theirs))}", environ={})
    assert result.values["SMTP_SECURITY"] == ours
    assert result.origins["SMTP_SECURITY"] == "EmailSettings.ConnectionSecurity"


def test_it_imports_a_configured_server(tmp_path: Path) -> None:
    path = write(tmp_path, configured(SMTPServerTimeout=30), {"SiteURL": "https://chat.example.com"})
    result = load(f"mattermost:{path}", environ={})
    assert result.values == {
        "SMTP_SECURITY": "starttls",
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_TIMEOUT": "30",
        "SMTP_USER": "mm@example.com",
        "SMTP_PASSWORD": PASSWORD,
        "MAIL_FROM": "mm@example.com",
        "MAIL_FROM_NAME": "Mattermost",
        "MAIL_REPLY_TO": "help@example.com",
        "EMAIL_ENABLED": "true",
        "APP_URL": "https://chat.example.com",
        "SMTP_EHLO_NAME": "chat.example.com",
    }
    assert result.origins["SMTP_PASSWORD"] == "EmailSettings.SMTPPassword"
    assert result.origins["SMTP_EHLO_NAME"] == "ServiceSettings.SiteURL"
    assert not any(PASSWORD in note for note in result.notes)


def test_it_lets_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    env = {
        "MM_EMAILSETTINGS_SMTPSERVER": "relay.example.org",
        "MM_EMAILSETTINGS_CONNECTIONSECURITY": "TLS",
        "MM_EMAILSETTINGS_SMTPPORT": "465",
        "MM_EMAILSETTINGS_ENABLESMTPAUTH": "false",
        "MM_SERVICESETTINGS_SITEURL": "https://mm.example.org",
    }
    result = load(f"mattermost:{write(tmp_path, configured())}", environ=env)
    assert (result.values["SMTP_HOST"], result.values["SMTP_PORT"], result.values["SMTP_SECURITY"]) == (
        "relay.example.org",
        "465",
        "ssl",
    )
    assert result.origins["SMTP_HOST"] == "MM_EMAILSETTINGS_SMTPSERVER"
    assert "SMTP_USER" not in result.values
    assert result.values["SMTP_EHLO_NAME"] == "mm.example.org"


def test_it_drops_credentials_when_smtp_auth_is_off(tmp_path: Path) -> None:
    result = load(f"mattermost:{write(tmp_path, configured(EnableSMTPAuth=False))}", environ={})
    assert "SMTP_USER" not in result.values
    assert "SMTP_PASSWORD" not in result.values
    assert (
        "EmailSettings.EnableSMTPAuth is false: Mattermost does not log in, so SMTPUsername and SMTPPassword "
        "are not imported"
    ) in result.notes


def test_it_applies_mattermosts_defaults_and_warns_about_the_placeholders(tmp_path: Path) -> None:
    result = load(f"mattermost:{write(tmp_path, {})}", environ={})
    assert result.values == {
        "SMTP_SECURITY": "none",
        "SMTP_HOST": "localhost",
        "SMTP_PORT": "10025",
        "SMTP_TIMEOUT": "10",
        "MAIL_FROM": "test@example.com",
        "MAIL_REPLY_TO": "test@example.com",
        "EMAIL_ENABLED": "true",
    }
    assert result.origins["MAIL_FROM"] == "EmailSettings.FeedbackEmail (unset: Mattermost's default)"
    # mission-anchors E3: '550 5.7.27 <test@example.com>'
    assert any(
        note.startswith(
            "EmailSettings.FeedbackEmail (unset: Mattermost's default) is Mattermost's placeholder"
        )
        for note in result.notes
    )
    assert any(
        note.startswith("SMTPServer and SMTPPort are Mattermost's placeholders") for note in result.notes
    )


def test_it_turns_skipped_verification_into_a_warning(tmp_path: Path) -> None:
    result = load(
        f"mattermost:{write(tmp_path, configured(SkipServerCertificateVerification=True))}", environ={}
    )
    assert result.values["SMTP_TLS_VERIFY"] == "false"
    assert any(
        note.startswith("warning: EmailSettings.SkipServerCertificateVerification is true")
        for note in result.notes
    )


def test_it_maps_send_email_notifications_to_email_enabled(tmp_path: Path) -> None:
    result = load(f"mattermost:{write(tmp_path, configured(SendEmailNotifications=False))}", environ={})
    assert result.values["EMAIL_ENABLED"] == "false"
    assert (
        "EmailSettings.SendEmailNotifications is false: Mattermost sends no notification mail" in result.notes
    )


def test_it_explains_that_mattermost_starttls_is_not_required(tmp_path: Path) -> None:
    result = load(f"mattermost:{write(tmp_path, configured())}", environ={})
    assert any(note.startswith("Mattermost ignores a failed STARTTLS") for note in result.notes)


def test_it_feeds_the_resolver(tmp_path: Path) -> None:
    result = load(
        f"mattermost:{write(tmp_path, configured(ConnectionSecurity='TLS', SMTPPort='465'))}", environ={}
    )
    settings = resolve(Layer(Origin.IMPORT, result.values, result.origins))
    assert settings.smtp.security is Security.SSL
    assert settings.smtp.port == 465
    assert settings.source("SMTP_SECURITY").describe() == "imported (EmailSettings.ConnectionSecurity)"


def test_it_says_which_file_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ImporterError) as info:
        load(f"mattermost:{missing}", environ={})
    assert str(info.value) == f"{missing}: no such file (give the path of Mattermost's config.json)"


def test_it_reports_bad_json_by_position_without_quoting_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        '{"EmailSettings": {"SMTPPassword": "' + PASSWORD + '" "SMTPServer": "x"}}', encoding="utf-8"
    )
    with pytest.raises(ImporterError) as info:
        load(f"mattermost:{path}", environ={})
    assert str(info.value) == f"{path} is not valid JSON: Expecting ',' delimiter at line 1 column 58"
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "is not a Mattermost config.json (expected a JSON object)"),
        ('{"EmailSettings": 3}', ": EmailSettings is not a JSON object"),
    ],
)
def test_it_refuses_json_that_is_not_a_mattermost_config(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImporterError) as info:
        load(f"mattermost:{path}", environ={})
    assert str(info.value) == f"{path}{' ' if not reason.startswith(':') else ''}{reason}"

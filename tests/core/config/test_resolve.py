"""The resolver implements spec/config.md: precedence, synonyms, sources, defaults and
errors that say what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from postwarden.core.config.model import Origin, Provider, RecipientMode, Security
from postwarden.core.config.resolve import ConfigError, Layer, resolve, resolve_environment


def settings(env: dict[str, str], **kw: object):  # type: ignore[no-untyped-def]
    return resolve_environment(environ=env, dotenv=None, **kw)  # type: ignore[arg-type]


def test_it_uses_capture_when_nothing_is_configured() -> None:
    s = settings({})
    assert s.sending.provider is Provider.CAPTURE
    assert s.smtp.security is Security.STARTTLS
    assert s.smtp.port == 587
    assert s.source("EMAIL_PROVIDER").origin is Origin.DEFAULT


def test_it_gives_captured_mail_a_placeholder_sender_only() -> None:
    captured = settings({})
    assert captured.sending.from_address == "postwarden@localhost"
    assert captured.source("MAIL_FROM").describe() == "default (capture only)"
    assert settings({"SMTP_HOST": "mail.example.com"}).sending.from_address is None


def test_it_uses_smtp_when_a_host_is_set() -> None:
    assert settings({"SMTP_HOST": "mail.example.com"}).sending.provider is Provider.SMTP


def test_it_infers_the_provider_from_a_single_key_and_says_so() -> None:
    s = settings({"SENDGRID_API_KEY": "SG.abcdefghijklmnop"})
    assert s.sending.provider is Provider.SENDGRID
    assert s.provider.secret("SENDGRID_API_KEY").reveal() == "SG.abcdefghijklmnop"
    assert any("sendgrid" in note for note in s.notes)


def test_it_refuses_to_guess_between_several_provider_keys() -> None:
    with pytest.raises(ConfigError) as info:
        settings({"SENDGRID_API_KEY": "k1", "POSTMARK_SERVER_TOKEN": "k2"})
    assert "set EMAIL_PROVIDER" in str(info.value)


@pytest.mark.parametrize(
    ("port", "expected"), [("465", Security.SSL), ("587", Security.STARTTLS), ("2525", Security.STARTTLS)]
)
def test_it_reads_a_bare_tls_by_the_port(port: str, expected: Security) -> None:
    s = settings({"SMTP_HOST": "h", "SMTP_SECURITY": "TLS", "SMTP_PORT": port})
    assert s.smtp.security is expected
    assert s.notes == (
        f"SMTP_SECURITY=tls on port {port} was read as {expected.value}"
        f" ({'implicit TLS' if expected is Security.SSL else 'STARTTLS, required'})",
    )


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("implicit", Security.SSL),
        ("ssl/tls", Security.SSL),
        ("start_tls", Security.STARTTLS),
        ("none", Security.NONE),
        ("opportunistic", Security.OPPORTUNISTIC),
    ],
)
def test_it_accepts_the_documented_security_synonyms(word: str, expected: Security) -> None:
    assert settings({"SMTP_SECURITY": word}).smtp.security is expected


@pytest.mark.parametrize(("security", "port"), [("none", 25), ("ssl", 465), ("starttls", 587)])
def test_it_defaults_the_port_by_security(security: str, port: int) -> None:
    assert settings({"SMTP_SECURITY": security}).smtp.port == port


def test_it_accepts_synonym_names_and_names_them_as_the_source() -> None:
    s = settings({"SMTP_USERNAME": "ops", "MAIL_FROM_ADDRESS": "ops@example.com"})
    assert s.smtp.user == "ops"
    assert s.sending.from_address == "ops@example.com"
    assert s.source("SMTP_USER").describe() == "environment (SMTP_USERNAME)"
    assert s.sending.test_email == "ops@example.com"


def test_it_lets_flags_beat_the_environment_beat_dotenv_beat_stored(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SMTP_HOST=from-dotenv\nSMTP_PORT=2525\nMAIL_FROM=dot@example.com\n")
    s = resolve_environment(
        flags={"SMTP_HOST": "from-flag"},
        environ={"SMTP_HOST": "from-env", "SMTP_PORT": "465"},
        dotenv=dotenv,
        stored={
            "SMTP_HOST": "from-db",
            "SMTP_PORT": "25",
            "MAIL_FROM": "db@example.com",
            "MAIL_FROM_NAME": "DB",
        },
    )
    assert (s.smtp.host, s.smtp.port) == ("from-flag", 465)
    assert s.sending.from_address == "dot@example.com"
    assert s.sending.from_name == "DB"
    assert [s.source(n).origin for n in ("SMTP_HOST", "SMTP_PORT", "MAIL_FROM", "MAIL_FROM_NAME")] == [
        Origin.FLAG,
        Origin.ENV,
        Origin.DOTENV,
        Origin.STORED,
    ]
    assert s.source("SMTP_PORT").locks_console_field
    assert not s.source("MAIL_FROM_NAME").locks_console_field


def test_it_never_takes_service_settings_from_the_console() -> None:
    s = settings({}, stored={"POSTWARDEN_PORT": "9999", "DATABASE_URL": "sqlite:////tmp/x.db"})
    assert s.service.port == 8025
    assert s.service.database_url.endswith("postwarden.sqlite3")


def test_it_lists_every_bad_value_with_what_to_set() -> None:
    with pytest.raises(ConfigError) as info:
        settings({"SMTP_PORT": "abc", "SMTP_SECURITY": "tsl", "EMAIL_ENABLED": "maybe", "SMTP_TIMEOUT": "-1"})
    text = str(info.value)
    assert "SMTP_PORT='abc' must be a whole number from 1 to 65535" in text
    assert (
        "SMTP_SECURITY='tsl' must be one of none, ssl, starttls, opportunistic; did you mean 'ssl'?" in text
    )
    assert "EMAIL_ENABLED='maybe' must be true or false" in text
    assert "SMTP_TIMEOUT='-1' must be from 0.1 to 600" in text
    assert len(info.value.problems) == 4


def test_it_refuses_no_encryption_when_encryption_is_required() -> None:
    with pytest.raises(ConfigError, match="SMTP_REQUIRE_ENCRYPTION=true refuses SMTP_SECURITY=none"):
        settings({"SMTP_SECURITY": "none", "SMTP_REQUIRE_ENCRYPTION": "true"})


def test_it_never_quotes_a_bad_secret_value() -> None:
    with pytest.raises(ConfigError) as info:
        settings({"POSTWARDEN_WEBHOOK_SECRET": "no-colon-Zq9!distinctive"})
    assert "Zq9!distinctive" not in str(info.value)
    assert "must be user:password" in str(info.value)


def test_it_masks_secrets_in_display_values() -> None:
    s = settings(
        {"SMTP_PASSWORD": "correct-horse-battery-staple", "DATABASE_URL": "postgres://pw:s3cr3tpass@db/pw"}
    )
    assert s.values["SMTP_PASSWORD"] == "••••aple"
    assert s.values["DATABASE_URL"] == "postgres://pw:••••@db/pw"
    assert "correct-horse" not in repr(s)


def test_it_reads_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-secret-value\n")
    s = settings({"SMTP_PASSWORD_FILE": str(secret)})
    assert s.smtp.password.reveal() == "file-secret-value"
    assert s.source("SMTP_PASSWORD").describe() == "environment (SMTP_PASSWORD_FILE)"


def test_it_reports_an_unreadable_secret_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMTP_PASSWORD_FILE: unreadable"):
        settings({"SMTP_PASSWORD_FILE": str(tmp_path / "missing")})


def test_it_treats_empty_values_as_unset() -> None:
    s = settings({"SMTP_HOST": "", "SMTP_PORT": "  "}, stored={"SMTP_HOST": "db-host"})
    assert s.smtp.host == "db-host"
    assert s.smtp.port == 587


def test_it_normalizes_approved_domains() -> None:
    s = settings({"MAIL_ALLOWED_DOMAINS": "Example.COM, bücher.de,@corp.example"})
    assert s.sending.allowed_domains == ("example.com", "xn--bcher-kva.de", "corp.example")


def test_it_rejects_an_approved_domain_that_is_an_address() -> None:
    with pytest.raises(ConfigError, match="is not a domain name"):
        settings({"MAIL_ALLOWED_DOMAINS": "ops@example.com"})


def test_it_parses_listen_addresses_including_ipv6() -> None:
    s = settings({"POSTWARDEN_SMTP_LISTEN": "[::1]:2626", "POSTWARDEN_DNS_SERVER": "127.0.0.1"})
    assert (s.service.smtp_listen_host, s.service.smtp_listen_port) == ("::1", 2626)
    assert s.service.dns_server == "127.0.0.1:53"


def test_it_maps_recipient_mode() -> None:
    assert settings({"MAIL_RECIPIENT_MODE": "CC"}).sending.recipient_mode is RecipientMode.CC


def test_it_defaults_the_dkim_domain_to_the_from_domain() -> None:
    s = settings({"MAIL_FROM": "Ops <ops@Example.com>", "DKIM_SELECTOR": "pw"})
    assert s.signing.domain == "example.com"


def test_it_resolves_importer_layers_with_their_origin() -> None:
    imported = Layer(Origin.IMPORT, {"SMTP_HOST": "smtp.office365.com"}, {"SMTP_HOST": "MB_EMAIL_SMTP_HOST"})
    s = resolve(imported)
    assert s.source("SMTP_HOST").describe() == "imported (MB_EMAIL_SMTP_HOST)"

"""The Email settings page: sources, environment locks, secrets never pre-filled (empty
keeps, "clear" removes), the resolver's own error messages, presets with and without
JavaScript."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings, save, stored_values
from postwarden.console.presets import PRESETS
from tests.console.conftest import DISTINCT_SMTP_PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
URL = "/settings/"


def form_data(**values: str) -> dict[str, str]:
    """What the browser posts for an untouched form, plus ``values``."""
    base = {"EMAIL_ENABLED": "on", "SMTP_TLS_VERIFY": "on", "action": "save"}
    base.update(values)
    return base


def field_html(html: str, name: str) -> str:
    match = re.search(
        rf'<div class="field" id="field-{name}">(.*?)</div>\s*(?=<div class="field"|</div>)', html, re.S
    )
    assert match, name
    return match.group(1)


def test_it_shows_every_sending_field_with_where_its_value_comes_from(settings_client: Client) -> None:
    save({"SMTP_HOST": "smtp.example.com"}, None)
    html = settings_client.get(URL).content.decode()
    for name in (
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_SECURITY",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "MAIL_FROM",
        "MAIL_FROM_NAME",
        "MAIL_REPLY_TO",
        "MAIL_RECIPIENT_MODE",
        "MAIL_ALLOWED_DOMAINS",
        "EMAIL_ENABLED",
        "SENDGRID_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "MAILGUN_API_KEY",
        "POSTMARK_SERVER_TOKEN",
        "RESEND_API_KEY",
        "MANDRILL_API_KEY",
        "DKIM_SELECTOR",
        "DKIM_PRIVATE_KEY",
    ):
        assert f'name="{name}"' in html, name
    assert 'value="smtp.example.com"' in field_html(html, "SMTP_HOST")
    assert "from: saved in the console" in field_html(html, "SMTP_HOST")
    assert "from: default" in field_html(html, "SMTP_PORT")


def test_it_makes_a_field_set_by_the_environment_read_only_with_a_note(
    settings_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_HOST", "env-smtp.example.com")
    html = settings_client.get(URL).content.decode()
    block = field_html(html, "SMTP_HOST")
    assert 'name="SMTP_HOST"' not in block
    assert "env-smtp.example.com" in block
    assert "Set by the environment (environment): change it there." in block


def test_it_ignores_a_posted_value_for_a_field_the_environment_sets(
    settings_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_HOST", "env-smtp.example.com")
    response = settings_client.post(URL, form_data(SMTP_HOST="evil.example.net", MAIL_FROM="ops@example.com"))
    assert response.status_code == 302
    assert not StoredSetting.objects.filter(name="SMTP_HOST").exists()
    assert stored_values()["MAIL_FROM"] == "ops@example.com"


def test_it_saves_values_and_seals_the_password(settings_client: Client, settings_user: object) -> None:
    response = settings_client.post(
        URL,
        form_data(
            EMAIL_PROVIDER="capture",
            SMTP_HOST="smtp.example.com",
            SMTP_PORT="2525",
            SMTP_SECURITY="starttls",
            SMTP_USER="ops",
            SMTP_PASSWORD=DISTINCT_SMTP_PASSWORD,
            MAIL_FROM="ops@example.com",
            MAIL_ALLOWED_DOMAINS="example.com,example.org",
        ),
    )
    assert response.status_code == 302
    rows = {r.name: r for r in StoredSetting.objects.all()}
    assert rows["SMTP_PORT"].value == "2525"
    assert rows["SMTP_PASSWORD"].sealed
    assert DISTINCT_SMTP_PASSWORD not in rows["SMTP_PASSWORD"].value
    assert rows["SMTP_HOST"].updated_by_id == settings_user.pk  # type: ignore[attr-defined]
    resolved = current_settings()
    assert resolved.smtp.password.reveal() == DISTINCT_SMTP_PASSWORD
    assert resolved.sending.allowed_domains == ("example.com", "example.org")
    assert "EMAIL_ENABLED" not in rows  # a switch left at its default stores nothing


def test_it_never_prefills_the_password_and_keeps_it_when_left_empty(settings_client: Client) -> None:
    save({"SMTP_PASSWORD": DISTINCT_SMTP_PASSWORD, "SMTP_HOST": "smtp.example.com"}, None)
    html = settings_client.get(URL).content.decode()
    assert DISTINCT_SMTP_PASSWORD not in html
    block = field_html(html, "SMTP_PASSWORD")
    assert re.search(r'<input type="password" name="SMTP_PASSWORD"[^>]*>', block)
    assert "value=" not in re.search(r'<input type="password" name="SMTP_PASSWORD"[^>]*>', block).group(0)  # type: ignore[union-attr]
    assert 'Stored: <bdi class="mono">••••leak</bdi>. Leave empty to keep it.' in block
    settings_client.post(URL, form_data(SMTP_HOST="smtp.example.com", SMTP_PASSWORD="", MAIL_FROM_NAME="Ops"))
    assert current_settings().smtp.password.reveal() == DISTINCT_SMTP_PASSWORD
    assert current_settings().sending.from_name == "Ops"
    # another host needs the password typed again (tests/security/test_secret_destinations.py)
    settings_client.post(URL, form_data(SMTP_HOST="smtp2.example.com", SMTP_PASSWORD=""))
    assert current_settings().smtp.host == "smtp.example.com"


def test_it_clears_a_stored_secret_only_when_asked(settings_client: Client) -> None:
    save({"SMTP_PASSWORD": DISTINCT_SMTP_PASSWORD}, None)
    settings_client.post(URL, form_data(clear_SMTP_PASSWORD="on"))
    assert not StoredSetting.objects.filter(name="SMTP_PASSWORD").exists()
    assert not current_settings().smtp.password


def test_it_removes_a_saved_value_when_the_field_is_emptied(settings_client: Client) -> None:
    save({"MAIL_FROM_NAME": "Ops"}, None)
    settings_client.post(URL, form_data(MAIL_FROM_NAME=""))
    assert not StoredSetting.objects.filter(name="MAIL_FROM_NAME").exists()


def test_it_shows_the_resolvers_message_for_a_bad_value_and_saves_nothing(settings_client: Client) -> None:
    response = settings_client.post(URL, form_data(SMTP_PORT="abc", SMTP_HOST="smtp.example.com"))
    assert response.status_code == 200
    block = field_html(response.content.decode(), "SMTP_PORT")
    assert "SMTP_PORT=&#x27;abc&#x27; must be a whole number" in block
    assert not StoredSetting.objects.exists()


def test_it_refuses_a_choice_that_is_not_offered(settings_client: Client) -> None:
    response = settings_client.post(URL, form_data(SMTP_SECURITY="tls-ish"))
    assert response.status_code == 200
    assert "Select a valid choice." in field_html(response.content.decode(), "SMTP_SECURITY")
    assert not StoredSetting.objects.exists()


def test_it_offers_every_preset_with_its_values_and_note(settings_client: Client) -> None:
    html = settings_client.get(URL).content.decode()
    for preset in PRESETS:
        assert f'value="{preset.key}" data-host="{preset.host}" data-port="{preset.port}"' in html
    assert 'data-host="smtp.gmail.com" data-port="587" data-security="starttls"' in html
    assert "App Password" in html
    assert 'data-host="localhost" data-port="25" data-security="none"' in html
    assert 'data-host="smtp.sendgrid.net" data-port="587" data-security="starttls" data-user="apikey"' in html


def test_it_applies_a_preset_without_javascript_and_saves_nothing(settings_client: Client) -> None:
    response = settings_client.post(
        URL, {"action": "preset", "preset": "ses", "preset_region": "eu-west-1", "SMTP_USER": "AKIAEXAMPLE"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="email-smtp.eu-west-1.amazonaws.com"' in field_html(html, "SMTP_HOST")
    assert 'value="587"' in field_html(html, "SMTP_PORT")
    assert '<option value="starttls" selected>' in field_html(html, "SMTP_SECURITY")
    assert 'value="AKIAEXAMPLE"' in field_html(html, "SMTP_USER")
    assert "Preset applied" in html
    assert not StoredSetting.objects.exists()


def test_it_is_refused_to_a_viewer(viewer_client: Client) -> None:
    assert viewer_client.get(URL).status_code == 403
    assert viewer_client.post(URL, form_data(SMTP_HOST="x.example.com")).status_code == 403
    assert not StoredSetting.objects.exists()

"""The bounce settings are on the console's Email settings page (an advanced card of their
own): saved there, the IMAP password sealed, and read by the worker's settings."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings
from tests.console.conftest import clean_env as clean_env
from tests.console.conftest import logged_in
from tests.console.conftest import settings_user as settings_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
PASSWORD = "bounce-mailbox-password-9f3k"


def test_bounce_settings_are_saved_from_the_console(settings_user: object) -> None:
    client: Client = logged_in(settings_user)  # type: ignore[arg-type]
    page = client.get("/settings/").content.decode()
    assert 'id="group-bounces"' in page
    assert "Bounce domain" in page
    form = {
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "action": "save",
        "BOUNCE_DOMAIN": "Bounces.Example.com",
        "BOUNCE_IMAP_HOST": "outlook.office365.com",
        "BOUNCE_IMAP_USER": "bounces@example.com",
        "BOUNCE_IMAP_PASSWORD": PASSWORD,
        "BOUNCE_IMAP_PROCESSED": "flag",
    }
    assert client.post("/settings/", form).status_code == 302
    rows = {r.name: r for r in StoredSetting.objects.all()}
    assert rows["BOUNCE_IMAP_PASSWORD"].sealed
    assert PASSWORD not in rows["BOUNCE_IMAP_PASSWORD"].value
    bounces = current_settings().bounces
    assert (bounces.domain, bounces.imap_host, bounces.imap_port, bounces.imap_processed) == (
        "bounces.example.com",
        "outlook.office365.com",
        993,
        "flag",
    )
    assert bounces.imap_password.reveal() == PASSWORD
    assert PASSWORD not in client.get("/settings/").content.decode()

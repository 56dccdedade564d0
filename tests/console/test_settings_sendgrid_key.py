"""A SendGrid verification key that is not a public key is refused when it is saved, with
the resolver's words on the field, and nothing is stored (it used to be saved, then every
SendGrid webhook failed when anymail tried to load it)."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings
from tests.console.test_settings import URL, field_html, form_data
from tests.webhooks.test_sendgrid import PUBLIC_B64

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
NAME = "SENDGRID_WEBHOOK_VERIFICATION_KEY"


@pytest.mark.parametrize("value", ["Sg8vErKy3-not-a-public-key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"])
def test_it_refuses_to_save_a_key_that_is_not_a_public_key(settings_client: Client, value: str) -> None:
    response = settings_client.post(URL, form_data(**{NAME: value}))
    assert response.status_code == 200
    block = field_html(response.content.decode(), NAME)
    assert f"{NAME} is not a public key: paste the verification key SendGrid shows" in block
    assert value not in response.content.decode()
    assert not StoredSetting.objects.exists()


def test_it_saves_the_key_sendgrid_shows(settings_client: Client) -> None:
    response = settings_client.post(URL, form_data(**{NAME: PUBLIC_B64}))
    assert response.status_code == 302
    assert current_settings().webhooks.sendgrid_verification_key.reveal() == PUBLIC_B64

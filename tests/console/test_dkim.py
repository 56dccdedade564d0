"""DKIM on the Email settings page: generate a key pair (sealed, never shown), the TXT
record to publish, and the doctor's check of what DNS publishes."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings, save
from postwarden.core.dkim import generate_key, public_key_of
from tests.dnsd import DnsTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]


def test_it_generates_a_key_and_shows_the_record_to_publish(settings_client: Client) -> None:
    save({"MAIL_FROM": "ops@example.com"}, None)
    response = settings_client.post(
        "/settings/dkim/generate/", {"selector": "pw2026", "domain": ""}, follow=True
    )
    html = response.content.decode()
    signing = current_settings().signing
    assert (signing.selector, signing.domain) == ("pw2026", "example.com")
    assert StoredSetting.objects.get(name="DKIM_PRIVATE_KEY").sealed
    assert "A new DKIM key was generated" in html
    assert '<code id="dkim-name">pw2026._domainkey.example.com</code>' in html
    assert f"v=DKIM1; k=rsa; p={public_key_of(signing.private_key)}" in html
    assert "PRIVATE KEY" not in html


def test_it_refuses_a_bad_selector(settings_client: Client) -> None:
    html = settings_client.post(
        "/settings/dkim/generate/", {"selector": "bad selector!"}, follow=True
    ).content.decode()
    assert "is not a valid DKIM selector" in html
    assert not StoredSetting.objects.filter(name="DKIM_PRIVATE_KEY").exists()


def test_it_leaves_a_key_from_the_environment_alone(
    settings_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DKIM_PRIVATE_KEY", generate_key(1024).reveal())
    html = settings_client.post("/settings/dkim/generate/", {"selector": "s"}, follow=True).content.decode()
    assert "DKIM_PRIVATE_KEY is set by the environment" in html
    assert not StoredSetting.objects.filter(name="DKIM_PRIVATE_KEY").exists()


def test_it_checks_whether_the_record_is_published(
    settings_client: Client, dns_server: DnsTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTWARDEN_DNS_SERVER", dns_server.address)
    key = generate_key(1024)
    save({"MAIL_FROM": "ops@example.com", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY": key.reveal()}, None)
    missing = settings_client.post("/settings/dkim/check/").content.decode()
    assert "dns.dkim_missing" in missing
    assert "TXT s1._domainkey.example.com: no record" in missing
    assert dns_server.asked("s1._domainkey.example.com", "TXT")
    public = public_key_of(key)
    dns_server.load(f's1._domainkey.example.com. 300 IN TXT "v=DKIM1; k=rsa; p={public}"')
    published = settings_client.post("/settings/dkim/check/").content.decode()
    assert "published" in published
    assert "matches DKIM_PRIVATE_KEY" in published
    other = public_key_of(generate_key(1024))
    dns_server.load(f's1._domainkey.example.com. 300 IN TXT "v=DKIM1; k=rsa; p={other}"')
    assert "dns.dkim_mismatch" in settings_client.post("/settings/dkim/check/").content.decode()

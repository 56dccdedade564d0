"""The console's Canaries pages: add, change, run now, delete; the status in words; the
IMAP password sealed and never shown."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from postwarden.accounts.models import User
from postwarden.canaries.models import Canary, CanaryRun
from tests.canaries.conftest import Path
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "Imap-Pa55-Zq9XkVbN-do-not-leak"


def _form(path: Path, **changes: str) -> dict[str, str]:
    values = {
        "name": "home",
        "address": path.mailbox.user,
        "imap_host": path.mailbox.host,
        "imap_port": str(path.mailbox.port),
        "imap_security": "none",
        "imap_user": path.mailbox.user,
        "imap_password": path.mailbox.password,
        "interval_minutes": "60",
        "deadline_minutes": "10",
        "slow_seconds": "300",
        "delete_found": "on",
        "enabled": "on",
    }
    values.update(changes)
    return values


def test_a_settings_user_adds_a_canary_and_sees_its_run_in_words(
    canary_path: Path, settings_user: User
) -> None:
    client = logged_in(settings_user)
    response = client.post("/canaries/", _form(canary_path))
    canary = Canary.objects.get(name="home")
    assert response.status_code == 302
    assert response["Location"] == f"/canaries/{canary.pk}/"
    assert canary.imap_password.startswith("pw1:")
    assert canary_path.mailbox.password not in canary.imap_password
    run = canary_path.run_to_end(canary)
    page = client.get(f"/canaries/{canary.pk}/").content.decode()
    said = f"arrived in inbox in {run.arrival_seconds:.0f} s, SPF pass, DKIM pass, DMARC pass"
    assert f'<span class="summary">{said}</span>' in page
    assert canary_path.mailbox.password not in page
    listing = client.get("/canaries/").content.decode()
    assert said in listing
    assert re.search(r'data-status="ok"', listing)


def test_the_password_is_kept_when_left_empty_and_never_shown(canary_path: Path, settings_user: User) -> None:
    client = logged_in(settings_user)
    client.post("/canaries/", _form(canary_path, imap_password=SECRET))
    canary = Canary.objects.get(name="home")
    sealed = canary.imap_password
    response = client.post(
        f"/canaries/{canary.pk}/", _form(canary_path, imap_password="", interval_minutes="30")
    )
    assert response.status_code == 302
    canary.refresh_from_db()
    assert (canary.interval_minutes, canary.imap_password) == (30, sealed)
    for url in ("/canaries/", f"/canaries/{canary.pk}/"):
        assert SECRET not in client.get(url).content.decode()


def test_bad_input_is_named_on_its_field(canary_path: Path, settings_user: User) -> None:
    client = logged_in(settings_user)
    page = client.post("/canaries/", _form(canary_path, address="not an address", interval_minutes="4"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Ensure this value is greater than or equal to 5." in text
    assert not Canary.objects.exists()
    page = client.post("/canaries/", _form(canary_path, address="not an address"))
    assert "address: " in page.content.decode()
    assert not Canary.objects.exists()


def test_run_now_and_delete(canary_path: Path, settings_user: User) -> None:
    client = logged_in(settings_user)
    canary = canary_path.canary(name="home")
    canary.runs.all().delete()
    client.post(f"/canaries/{canary.pk}/run/")
    canary.refresh_from_db()
    assert canary.run_requested is True
    client.post(f"/canaries/{canary.pk}/delete/")
    assert not Canary.objects.exists()
    assert not CanaryRun.objects.exists()


def test_a_viewer_reads_but_changes_nothing(canary_path: Path, viewer: User) -> None:
    client: Client = logged_in(viewer)
    canary = canary_path.canary(name="home")
    assert client.get("/canaries/").status_code == 200
    assert client.get(f"/canaries/{canary.pk}/").status_code == 200
    assert client.post(f"/canaries/{canary.pk}/run/").status_code == 403
    assert client.post(f"/canaries/{canary.pk}/delete/").status_code == 403
    assert Canary.objects.filter(run_requested=True).count() == 0

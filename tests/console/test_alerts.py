"""The console's Alerts page: add and remove apprise URLs (stored sealed, shown by scheme
and host only), the "Send test alert" button through apprise to a local webhook, what is
firing, and the history with each destination's outcome; the environment's URLs are
read-only here; a viewer reads but changes nothing; no token on any page."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.alerts.conditions import DATABASE, Observation, observe
from postwarden.alerts.models import Alert, Delivery
from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import stored_values
from tests.alerts.hookd import Hook, hook  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
URL = "/alerts/"
TOKEN = "consoletoken4d9e2b7a1c"


def add(client: Client, url: str) -> str:
    response = client.post(URL, {"url": url}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_url_is_added_sealed_and_shown_without_its_token(settings_client: Client, hook: Hook) -> None:  # noqa: F811
    page = add(settings_client, hook.mattermost_url(TOKEN))
    assert f"Alerts now also go to mmost: 127.0.0.1:{hook.port} ••••" in page
    assert TOKEN not in page
    row = StoredSetting.objects.get(name="POSTWARDEN_ALERT_URLS")
    assert row.sealed
    assert TOKEN not in row.value
    assert stored_values()["POSTWARDEN_ALERT_URLS"] == hook.mattermost_url(TOKEN)
    add(settings_client, hook.json_url(f"in/{TOKEN}2"))
    assert stored_values()["POSTWARDEN_ALERT_URLS"].split() == [
        hook.mattermost_url(TOKEN),
        hook.json_url(f"in/{TOKEN}2"),
    ]
    page = settings_client.get(URL).content.decode()
    for scheme in ("mmost", "json"):
        assert f'class="key"><bdi>{scheme}: 127.0.0.1:{hook.port} ••••</bdi></td>' in page
    assert TOKEN not in page


def test_a_url_apprise_does_not_know_is_refused_without_repeating_it(settings_client: Client) -> None:
    response = settings_client.post(URL, {"url": f"nosuch://example.com/{TOKEN}"})
    page = response.content.decode()
    assert response.status_code == 200
    # the scheme typed is quoted as it came, isolated left to right
    assert 'apprise does not accept this <bdi dir="ltr">nosuch://</bdi> URL' in page
    assert TOKEN not in page
    assert not StoredSetting.objects.filter(name="POSTWARDEN_ALERT_URLS").exists()


def test_a_destination_is_removed_by_its_digest(settings_client: Client, hook: Hook) -> None:  # noqa: F811
    add(settings_client, hook.mattermost_url(TOKEN))
    add(settings_client, hook.json_url("keep"))
    from postwarden.alerts.destinations import digest

    response = settings_client.post(
        "/alerts/destinations/remove/", {"destination": digest(hook.mattermost_url(TOKEN))}, follow=True
    )
    assert f"Alerts no longer go to mmost: 127.0.0.1:{hook.port} ••••" in response.content.decode()
    assert stored_values()["POSTWARDEN_ALERT_URLS"] == hook.json_url("keep")


def test_the_test_alert_button_reaches_the_webhook_and_says_so(settings_client: Client, hook: Hook) -> None:  # noqa: F811
    add(settings_client, hook.mattermost_url(TOKEN))
    page = settings_client.post("/alerts/test/", follow=True).content.decode()
    assert f"Test alert sent to mmost: 127.0.0.1:{hook.port} ••••" in page
    [got] = hook.wait_for(1)
    assert "This is a test alert from Postwarden" in got.text
    assert got.path == f"/hooks/{TOKEN}"
    hook.down()
    page = settings_client.post("/alerts/test/", follow=True).content.decode()
    assert f"Test alert to mmost: 127.0.0.1:{hook.port} •••• failed: A Connection error occurred" in page
    assert TOKEN not in page
    # both are in the history, with their outcome
    assert [a.status for a in Alert.objects.order_by("id")] == ["sent", "failed"]
    assert "test" in page


def test_the_history_shows_sent_pending_and_failed_with_the_reason(settings_client: Client) -> None:
    observe(DATABASE, [Observation("queue.worker_down", "No worker", "3 recipients waiting", "/")])
    alert = Alert.objects.create(
        kind="firing", key="queue.worker_down", title="No worker", evidence="3 waiting"
    )
    Delivery.objects.create(
        alert=alert,
        destination="d1",
        label="mmost: chat.example.com ••••",
        status="pending",
        attempts=2,
        last_error="A Connection error occurred sending Mattermost webhook notification",
    )
    Delivery.objects.create(
        alert=alert,
        destination="d2",
        label="json: h.example.com ••••",
        status="failed",
        attempts=9,
        last_error="Failed to send JSON notification: Bad Gateway - error 502.",
    )
    page = settings_client.get(URL).content.decode()
    assert (
        '<bdi>mmost: chat.example.com ••••</bdi>: pending after 2 tries — <bdi class="mono">A Connection'
        " error occurred" in page
    )
    assert (
        '<bdi>json: h.example.com ••••</bdi>: failed after 9 tries — <bdi class="mono">Failed to send JSON'
        " notification: Bad Gateway" in page
    )
    assert "Firing now" in page
    assert "3 recipients waiting" in page


def test_urls_from_the_environment_are_read_only_here(
    settings_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    hook: Hook,  # noqa: F811
) -> None:
    monkeypatch.setenv("POSTWARDEN_ALERT_URLS", hook.mattermost_url(TOKEN))
    page = settings_client.get(URL).content.decode()
    assert "Set by the environment (<code>POSTWARDEN_ALERT_URLS</code>)" in page
    assert f"mmost: 127.0.0.1:{hook.port} ••••" in page
    assert TOKEN not in page
    response = settings_client.post(URL, {"url": hook.json_url("other")}, follow=True)
    assert "change them there" in response.content.decode()
    assert not StoredSetting.objects.filter(name="POSTWARDEN_ALERT_URLS").exists()


def test_a_viewer_reads_the_history_but_changes_nothing(viewer_client: Client) -> None:
    page = viewer_client.get(URL).content.decode()
    assert "History" in page
    assert "Send test alert" not in page
    assert viewer_client.post(URL, {"url": "json://example.com/x"}).status_code == 403
    assert viewer_client.post("/alerts/test/").status_code == 403

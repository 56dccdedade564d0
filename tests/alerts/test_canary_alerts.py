"""Issue #14's done-when for alerts, on a whole canary path (tests/canaries/conftest.py:
the worker sends the canary to a receiving server that verifies DKIM with Mail::DKIM and
files it into Dovecot, the run reads it over IMAP): the DKIM key the DNS publishes no
longer matches, the next run shows the receiver's dkim=fail, and one alert reaches the
Mattermost-style webhook through apprise quoting the receiver; after the fix, one
"resolved"; nothing while nothing changes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from postwarden.alerts import delivery
from postwarden.alerts.jobs import evaluate_database
from postwarden.core.config.model import AlertSettings, Settings, WebhookSettings
from postwarden.core.dkim import generate_key
from postwarden.core.secrets import Secret
from tests.alerts.hookd import Hook, hook  # noqa: F401 - a fixture
from tests.canaries.conftest import Path, canary_path  # noqa: F401 - a fixture
from tests.mx import mx_factory  # noqa: F401 - a fixture the path needs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "canarytoken5e8a2f0c9d1b"


def with_alerts(path: Path, hook: Hook) -> Settings:  # noqa: F811
    return replace(
        path.settings,
        alerts=AlertSettings(urls=(Secret(hook.mattermost_url(TOKEN)),), retry_seconds=1),
        webhooks=WebhookSettings(public_url="https://pw.example.org"),
    )


def test_a_broken_dkim_key_alerts_once_and_resolves_once_after_the_fix(
    canary_path: Path,  # noqa: F811
    hook: Hook,  # noqa: F811
) -> None:
    settings = with_alerts(canary_path, hook)
    canary = canary_path.canary(name="home")
    canary_path.run_to_end(canary)
    assert evaluate_database(settings) == []  # arrived, authenticated: nothing to say
    canary_path.publish(generate_key(2048))  # the DNS no longer has the signing key
    run = canary_path.run_to_end(canary)
    assert run.dkim == "fail"
    [fired] = evaluate_database(settings)
    assert fired.key == "canary.auth_failed"
    delivery.send_due(settings)
    [got] = hook.wait_for(1)
    assert (
        "Postwarden alert: The receiving server saw SPF, DKIM or DMARC fail on a canary (canary.auth_failed)"
        in (got.text)
    )
    assert f'the receiver reported dkim=fail: "{run.auth_results}"' in got.text
    assert "Console: https://pw.example.org/canaries/" in got.text
    assert evaluate_database(settings) == []  # still failing: no second alert
    canary_path.publish()  # fixed
    canary_path.run_to_end(canary)
    [resolved] = evaluate_database(settings)
    assert (resolved.kind, resolved.key) == ("resolved", "canary.auth_failed")
    delivery.send_due(settings)
    got = hook.wait_for(2)
    assert "Postwarden resolved: The receiving server saw SPF, DKIM or DMARC fail on a canary" in got[1].text
    assert evaluate_database(settings) == []
    assert len(hook.received) == 2

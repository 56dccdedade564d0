"""Alerts speak the instance's language (POSTWARDEN_LANGUAGE): the finding's title and
Postwarden's own words in Persian when it is ``fa``, the server's words quoted as they
came, English by default; the stored rows stay English."""

from __future__ import annotations

from dataclasses import replace

import pytest

from postwarden.alerts import delivery
from postwarden.alerts.conditions import SCHEDULED, Observation, observe, scheduled
from postwarden.alerts.jobs import evaluate_database
from postwarden.alerts.models import Alert, Condition
from postwarden.core.codes import CATALOGUE, Code
from postwarden.core.config.model import Settings
from postwarden.core.doctor.model import Finding, Report
from tests.alerts.hookd import Hook, hook  # noqa: F401 - a fixture
from tests.alerts.test_alerts import TOKEN, alert_settings, queue_a_message

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "535 5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials"


def in_language(settings: Settings, language: str) -> Settings:
    return replace(settings, service=replace(settings.service, language=language))


def test_an_alert_reaches_the_webhook_in_persian_with_the_finding_title_said_in_it(hook: Hook) -> None:  # noqa: F811
    settings = in_language(alert_settings(hook.mattermost_url(TOKEN)), "fa")
    queue_a_message(settings)  # and no worker: queue.worker_down
    [fired] = evaluate_database(settings)
    delivery.send_due(settings)
    [got] = hook.wait_for(1)
    title = CATALOGUE[Code.QUEUE_WORKER_DOWN].title
    assert f"هشدار Postwarden: {title.localized('fa')} (queue.worker_down)" in got.text
    assert "مدرک: " in got.text
    assert "کنسول: https://postwarden.example.net/" in got.text
    assert "Postwarden alert" not in got.text
    assert title not in got.text
    # what is stored stays English: the history, the logs and the API read it
    assert Alert.objects.get(pk=fired.pk).title == title


def test_an_alert_is_english_by_default(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN))
    assert settings.service.language == "en"
    queue_a_message(settings)
    evaluate_database(settings)
    delivery.send_due(settings)
    [got] = hook.wait_for(1)
    title = CATALOGUE[Code.QUEUE_WORKER_DOWN].title
    assert f"Postwarden alert: {title} (queue.worker_down)" in got.text
    assert title.localized("fa") not in got.text


def test_the_servers_words_stay_verbatim_in_a_persian_alert_and_its_resolution(hook: Hook) -> None:  # noqa: F811
    settings = in_language(alert_settings(hook.mattermost_url(TOKEN)), "fa")
    title = CATALOGUE[Code.AUTH_FAILED].title
    seen = Observation("auth.failed", title, REPLY, "/doctor/")
    [fired] = observe("doctor", [seen])
    delivery.record([fired], settings)
    [gone] = observe("doctor", [])
    assert gone.kind == Alert.Kind.RESOLVED
    delivery.record([gone], settings)
    delivery.send_due(settings)
    first, second = sorted(hook.wait_for(2), key=lambda r: "برطرف" in r.text)
    assert f"هشدار Postwarden: {title.localized('fa')} (auth.failed)" in first.text
    assert f"مدرک: {REPLY}" in first.text
    # the resolution is made from the stored condition: still said in Persian
    assert f"Postwarden برطرف شد: {title.localized('fa')} (auth.failed)" in second.text
    assert f"آخرین مدرک: {REPLY}" in second.text
    assert Condition.objects.get(key="auth.failed").title == title


def test_the_scheduled_doctors_alert_says_its_cause_in_the_language() -> None:
    findings = (Finding.of(Code.AUTH_FAILED, REPLY, ()), Finding.of(Code.TLS_HANDSHAKE_FAILED, "x", ()))
    [seen] = scheduled(Report(findings=findings, checks=(), duration_ms=0))
    assert seen.key == SCHEDULED
    [change] = observe("doctor", [seen])
    [alert] = delivery.record([change], alert_settings())
    english, persian = delivery.message(alert)[1], delivery.message(alert, "fa")[1]
    title = CATALOGUE[Code.AUTH_FAILED].title
    assert f"auth.failed: {title}. {REPLY} (and 1 more error)" in english
    assert f"auth.failed: {title.localized('fa')}. {REPLY} (و ۱ خطای دیگر)" in persian
    assert "پزشک زمان‌بندی‌شده خطایی یافت" in persian

"""The doctor inside the service: settings as the worker resolves them (console-saved
values included), the database's facts, the system checks that share the config stage,
and POST /api/v1/doctor."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.core import checks as django_checks
from django.test import Client
from django.utils import timezone

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.core.config.model import Origin
from postwarden.core.config.resolve import Layer
from postwarden.core.doctor.checks.config import config_findings
from postwarden.core.doctor.context import Options
from postwarden.core.doctor.model import Status
from postwarden.doctor.checks import CHECK_IDS, doctor_config_checks
from postwarden.doctor.report import report_json, run_doctor
from postwarden.outbox import heartbeat, suppressions
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from tests.factories import make_settings, save_smtp
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "doctor.schema.json").read_text(encoding="utf-8"))
URL = "/api/v1/doctor"
STORED_PASSWORD = "stored-PaSsWoRd-d1st1nct1ve-13"
#: the plain server by its address, and the doctor's probe recipient
AS_SAVED = {"SMTP_HOST": "127.0.0.1", "TEST_EMAIL": "dest@example.com"}


def test_it_uses_console_saved_settings_and_the_databases_facts(smtpd: SmtpServer, tmp_path: Path) -> None:
    save_smtp(smtpd, **AS_SAVED)
    enqueued = enqueue(Outgoing(to=["ann@example.com"], text="hi"), settings=make_settings(data_dir=tmp_path))
    Recipient.objects.filter(message__public_id=enqueued.public_id).update(
        queued_at=timezone.now() - timedelta(minutes=20)
    )
    report = run_doctor(Options(only=frozenset({"config", "queue", "network", "envelope"}), timeout=2))
    assert report.settings["host"] == smtpd.host
    assert report.settings["sources"]["SMTP_HOST"] == "saved in the console"
    assert [f.code.value for f in report.findings] == ["queue.worker_down", "queue.backlog"]
    worker = next(c for c in report.checks if c.id == "queue.worker")
    assert worker.detail == "1 recipient waiting; no worker has ever reported"


def test_it_reports_drift_and_suppression(smtpd: SmtpServer) -> None:
    save_smtp(smtpd, **AS_SAVED)
    now = timezone.now()
    heartbeat.beat(
        "w-old",
        settings=make_settings(),
        transport="smtp",
        status="running",
        counters={},
        started_at=now,
        now=now,
    )
    suppressions.add_bounce("dest@example.com", detail="550 5.1.1 unknown", source="sendgrid event e9")
    report = run_doctor(Options(only=frozenset({"config", "policy"}), timeout=2))
    codes = [f.code.value for f in report.findings]
    assert codes == ["config.process_drift", "policy.suppressed"]
    suppressed = next(f for f in report.findings if f.code.value == "policy.suppressed")
    assert suppressed.evidence.startswith("dest@example.com: suppressed: hard bounce (sendgrid event e9)")


def test_it_takes_imported_layers_above_the_stored_values(smtpd: SmtpServer) -> None:
    save_smtp(smtpd, **AS_SAVED, SMTP_PASSWORD=STORED_PASSWORD, SMTP_USER="stored-user")
    layer = Layer(Origin.IMPORT, {"SMTP_USER": "imported-user"}, {"SMTP_USER": "MB_EMAIL_SMTP_USERNAME"})
    report = run_doctor(Options(only=frozenset({"config"})), layers=[layer])
    assert (report.settings["user"], report.settings["password"]) == ("imported-user", "set")
    assert STORED_PASSWORD not in json.dumps(report.to_json())


def test_the_system_checks_and_the_config_stage_never_disagree(smtpd: SmtpServer) -> None:
    save_smtp(
        smtpd,
        **AS_SAVED,
        SMTP_PORT="465",
        SMTP_USER="u",
        SMTP_PASSWORD="p",
        MAIL_FROM="me@gmail.com",
        EMAIL_ENABLED="false",
    )
    messages = doctor_config_checks()
    report = run_doctor(Options(only=frozenset({"config"})))
    doctor_ids = [CHECK_IDS[f.code] for f in report.findings if f.code in CHECK_IDS]
    assert (
        [m.id for m in messages]
        == doctor_ids
        == ["postwarden.W003", "postwarden.W004", "postwarden.W005", "postwarden.W007"]
    )
    assert all(isinstance(m, django_checks.Warning) for m in messages)
    assert messages[1].msg.startswith("config.auth_without_tls: A password would be sent over an unencrypted")
    assert messages[1].hint.endswith("Run `postwarden doctor` to check the whole delivery path.")


def test_every_config_code_has_a_stable_system_check_id() -> None:
    from postwarden.core.codes import Code

    config_codes = {c for c in Code if c.stage == "config" and c is not Code.CONFIG_PROCESS_DRIFT}
    assert set(CHECK_IDS) == config_codes
    assert sorted(CHECK_IDS.values()) == [f"postwarden.W00{n}" for n in range(1, 8)]


def test_the_system_checks_are_registered(smtpd: SmtpServer) -> None:
    save_smtp(smtpd, **AS_SAVED, EMAIL_ENABLED="false")
    found = django_checks.run_checks(tags=["postwarden"])
    assert [m.id for m in found] == ["postwarden.W003"]
    assert config_findings(runtime.current_settings())[0].code.value == "config.disabled"


# -- POST /api/v1/doctor -----------------------------------------------------------------


@pytest.fixture
def api(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


def key(*scopes: str) -> dict[str, str]:
    _, plain = ApiKey.issue("ops-dashboard", list(scopes))
    return {"Authorization": f"Bearer {plain}"}


def test_the_api_returns_the_report(api: None, client: Client, smtpd: SmtpServer) -> None:
    save_smtp(smtpd, **AS_SAVED, SMTP_PASSWORD=STORED_PASSWORD)
    response = client.post(
        URL,
        {"only": ["network", "envelope"], "timeout": 2},
        content_type="application/json",
        headers=key("read"),
    )
    assert response.status_code == 200
    body = response.json()
    jsonschema.Draft202012Validator(SCHEMA).validate(body)
    assert body["settings"]["password"] == "set"
    assert STORED_PASSWORD not in response.content.decode()
    assert [c["id"] for c in body["checks"]][:2] == ["network.resolve", "network.connect"]


def test_the_api_needs_a_key(api: None, client: Client) -> None:
    assert client.post(URL, {}, content_type="application/json").status_code == 401
    # a valid key without the route's scope: 403 (401 is for no key, an unknown or a revoked one)
    assert client.post(URL, {}, content_type="application/json", headers=key("send")).status_code == 403


@pytest.mark.parametrize("body", [{"send": True}, {"to": "someone@example.org"}])
def test_the_api_sends_or_chooses_recipients_only_with_scope_send(
    api: None, client: Client, smtpd: SmtpServer, body: dict[str, Any]
) -> None:
    save_smtp(smtpd, **AS_SAVED)
    response = client.post(
        URL, {**body, "only": ["network"]}, content_type="application/json", headers=key("read")
    )
    assert response.status_code == 403
    assert smtpd.messages == []
    allowed = client.post(
        URL,
        {**body, "only": ["network", "envelope"]},
        content_type="application/json",
        headers=key("read", "send"),
    )
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [({"only": ["nonsense"]}, 422), ({"dns_server": "203.0.113.53"}, 422), ({"timeout": 99}, 422)],
)
def test_the_api_refuses_bad_requests(api: None, client: Client, body: dict[str, Any], status: int) -> None:
    response = client.post(URL, body, content_type="application/json", headers=key("read"))
    assert response.status_code == status


def test_report_json_is_the_contract(smtpd: SmtpServer) -> None:
    save_smtp(smtpd, **AS_SAVED)
    data = report_json(Options(only=frozenset({"config"})))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert [c["status"] for c in data["checks"] if c["id"] == "config.process_drift"] == [Status.SKIP.value]

"""The doctor's canary stage, from real runs: each finding with its evidence, read as the
console, the API and ``postwarden doctor`` read it (the same plain-SQL facts)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path as FsPath

import jsonschema
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from postwarden.canaries.models import Canary, CanaryRun, RunState
from postwarden.canaries.status import facts_of, status_of
from postwarden.core.dkim import generate_key
from postwarden.core.doctor.context import Options
from postwarden.doctor.db_reads import Db, canary_facts
from postwarden.doctor.report import run_doctor
from tests.canaries.conftest import Path
from tests.canaries.test_faults import _look_now, _past_deadline, _started

pytestmark = pytest.mark.django_db(transaction=True)
SCHEMA = json.loads((FsPath(__file__).parents[2] / "docs" / "doctor.schema.json").read_text(encoding="utf-8"))
CANARY_ONLY = Options(only=frozenset({"canary"}), timeout=2)


def _findings() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    report = run_doctor(CANARY_ONLY)
    jsonschema.validate(report.to_json(), SCHEMA)
    return {f.code.value: (f.severity.value, f.evidence, f.steps) for f in report.findings}


def test_a_clean_arrival_gives_no_finding_and_says_so(canary_path: Path) -> None:
    canary = canary_path.canary(name="home")
    run = canary_path.run_to_end(canary)
    assert _findings() == {}
    canary.refresh_from_db()
    status = status_of(canary)
    assert status.code == "ok"
    assert (
        status.summary == f"arrived in inbox in {run.arrival_seconds:.0f} s, SPF pass, DKIM pass, DMARC pass"
    )
    report = run_doctor(CANARY_ONLY)
    [check] = [c for c in report.checks if c.id == "canary.runs"]
    assert check.detail == f"home: {status.summary}"


def test_a_broken_dkim_key_is_named_with_the_receivers_words(canary_path: Path) -> None:
    canary_path.publish(generate_key(2048))
    canary = canary_path.canary(name="home")
    run = canary_path.run_to_end(canary)
    severity, evidence, steps = _findings()["canary.auth_failed"]
    assert severity == "error"
    assert f'the receiver reported dkim=fail: "{run.auth_results}"' in evidence
    assert evidence.startswith(f"home ({canary.address}), run of ")
    assert "dkim=fail: the published key does not match the signing key" in steps[1]
    canary.refresh_from_db()
    assert status_of(canary).code == "auth_failed"
    # fixed: the next run is clean again
    canary_path.publish()
    canary_path.run_to_end(canary)
    assert "canary.auth_failed" not in _findings()


def test_junk_is_a_warning(canary_path: Path) -> None:
    canary_path.mx.rule = lambda judged: "Junk"
    canary_path.run_to_end(canary_path.canary(name="home"))
    severity, evidence, _steps = _findings()["canary.junk"]
    assert severity == "warning"
    assert "found in Junk, the junk folder (SPF pass, DKIM pass, DMARC pass)" in evidence


def test_missing_says_how_far_it_got(canary_path: Path) -> None:
    canary_path.mx.hold = True
    held = canary_path.canary(name="held")
    _past_deadline(canary_path, _started_sent(canary_path, held))
    canary_path.mx.hold = False
    canary_path.mx.refuse = "554 5.7.1 Message rejected as spam"
    refused = canary_path.canary(name="refused")
    run = _started_sent(canary_path, refused)
    _look_now(canary_path, run)
    severity, evidence, _steps = _findings()["canary.missing"]
    assert severity == "error"
    assert "held (canary@example.test)" in evidence
    assert "refused (canary@example.test)" in evidence
    assert ": accepted upstream at " in evidence
    assert ": never accepted upstream: the outbox says failed: " in evidence


def test_a_refused_imap_login_is_the_canarys_own_configuration(canary_path: Path) -> None:
    canary_path.canary(name="home", imap_password="Wrong-Password-7c1")
    canary_path.pass_()
    severity, evidence, steps = _findings()["canary.mailbox_unreachable"]
    assert severity == "warning"
    assert "the IMAP server refused the login: [AUTHENTICATIONFAILED] Authentication failed." in evidence
    assert "Wrong-Password-7c1" not in evidence
    assert steps[0].startswith("This is the canary's own configuration, not a fault of your mail")


def test_a_slow_arrival_is_measured_on_our_clock(canary_path: Path) -> None:
    canary = canary_path.canary(name="home", slow_seconds=60)
    run = _started_sent(canary_path, canary)
    with time_machine.travel(run.started_at + timedelta(seconds=90)):
        run = _look_now(canary_path, run)
    assert run.state == RunState.ARRIVED
    severity, evidence, _steps = _findings()["canary.slow"]
    assert severity == "warning"
    assert evidence.endswith(f"arrived after {run.arrival_seconds:.0f} s (slow after 60 s)")


def test_a_disabled_canary_is_left_out(canary_path: Path) -> None:
    canary = canary_path.canary(name="home", imap_password="Wrong-Password-7c1")
    canary_path.pass_()
    assert "canary.mailbox_unreachable" in _findings()
    Canary.objects.filter(pk=canary.pk).update(enabled=False)
    assert _findings() == {}


def test_the_plain_sql_reader_sees_what_the_models_say(canary_path: Path) -> None:
    canary_path.publish(generate_key(2048))
    canary = canary_path.canary(name="home")
    canary_path.run_to_end(canary)
    canary.refresh_from_db()
    run = CanaryRun.objects.get(pk=canary.last_run_id)
    now = timezone.now()
    [read] = canary_facts(Db.of_django(connection), now)
    assert read == facts_of(canary, run, now)


def _started_sent(path: Path, canary: Canary) -> CanaryRun:
    run = _started(path, canary)
    path.send()
    return run

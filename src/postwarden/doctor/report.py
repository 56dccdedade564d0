"""Run the doctor inside the service: the console's Doctor page, ``POST /api/v1/doctor``
and ``postwarden doctor`` (when the database is reachable) all call these.

Settings are resolved the way the worker resolves them (flags > environment > .env >
saved in the console); the database's facts are gathered first, synchronously, then the
core runs its checks concurrently. Nothing here sends mail unless ``--send`` is asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from postwarden.configstore.runtime import current_settings, stored_values
from postwarden.core.codes import Code
from postwarden.core.config.model import Origin, Settings
from postwarden.core.config.resolve import ConfigError, Layer, resolve
from postwarden.core.doctor import runner
from postwarden.core.doctor.context import CheckCallback, Options, recipient_of
from postwarden.core.doctor.model import CheckResult, Finding, Report, Status
from postwarden.core.doctor.service import ServiceFacts
from postwarden.core.i18n import Text
from postwarden.core.secrets import Secret
from postwarden.doctor import db_reads
from postwarden.doctor.send import provider_sender


def settings_for(
    *, layers: Sequence[Layer] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """``layers`` (an import, the environment) above the values saved in the console;
    or, without layers, exactly what the worker resolves (``overrides``: unsaved form values)."""
    if layers is None:
        return current_settings(overrides=overrides)
    return resolve(*layers, Layer(Origin.STORED, {**stored_values(), **(overrides or {})}))


def service_facts(settings: Settings, recipient: str | None, *, now: datetime | None = None) -> ServiceFacts:
    """The database's facts for the doctor, read by the command line's own queries
    (doctor/db_reads.py) on Django's connection. Raises the database's errors."""
    db = db_reads.Db.of_django(connection)
    return db_reads.collect(
        db, settings, recipient, Secret(django_settings.SECRET_KEY), now or timezone.now()
    )


def facts_for(settings: Settings, options: Options) -> ServiceFacts:
    facts = service_facts(settings, recipient_of(settings, options))
    if options.send:
        from dataclasses import replace

        facts = replace(facts, provider_send=provider_sender(settings))
    return facts


def run_doctor(
    options: Options | None = None,
    *,
    layers: Sequence[Layer] | None = None,
    overrides: Mapping[str, str] | None = None,
    on_check: CheckCallback | None = None,
    notes: Iterable[str] = (),
) -> Report:
    """The doctor with the database's facts. Call it from synchronous code (a view, the CLI)."""
    options = options or Options()
    settings = settings_for(layers=layers, overrides=overrides)
    facts = facts_for(settings, options)
    return asyncio.run(runner.run(settings, options, service=facts, on_check=on_check, notes=notes))


def run_database_doctor(settings: Settings | None = None) -> Report:
    """Only the checks that read the database (core/doctor/checks.database_units): no
    network, no DNS; what the monitor evaluates every minute for alerts."""
    from postwarden.core.doctor.checks import database_units

    settings = settings or settings_for()
    options = Options()
    facts = facts_for(settings, options)
    return asyncio.run(runner.run(settings, options, units=database_units(), service=facts))


def report_json(options: Options | None = None, **kwargs: Any) -> dict[str, Any]:
    """:func:`run_doctor`'s report as the JSON object of docs/spec/doctor.md."""
    return run_doctor(options, **kwargs).to_json()


def unusable_settings_json(exc: ConfigError) -> dict[str, Any]:
    """The report, as :func:`report_json` gives it, when the settings cannot be used at
    all: the command line refuses them (exit 2), the console keeps a run that names the
    first one as the root cause and each in a failed check. Its sentences are Text, so a
    reader of the stored run gets them in their language (console/doctor_pipeline.py)."""
    first = exc.problems[0]
    finding = Finding.of(
        Code.CONFIG_MISSING,
        first.said(),
        [Text("Fix {variable} ({source}).", variable=first.variable, source=first.source.describe())],
        title=Text("The settings cannot be used"),
    )
    checks = tuple(CheckResult("config.settings", Status.FAIL, 0, problem.said()) for problem in exc.problems)
    return Report(findings=(finding,), checks=checks, duration_ms=0).to_json()


async def stream_doctor(
    options: Options | None = None, *, overrides: Mapping[str, str] | None = None
) -> AsyncIterator[CheckResult | Report]:
    """For the console's live view (an async view): each check as it completes, then the report."""
    options = options or Options()
    settings = await sync_to_async(settings_for)(overrides=overrides)
    facts = await sync_to_async(facts_for)(settings, options)
    async for item in runner.stream(settings, options, service=facts):
        yield item

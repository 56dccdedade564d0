"""The doctor's checks, one module per part of the path. Each exposes a coroutine
``run_<part>(ctx, rec)``; :func:`standard_units` lists what ``postwarden doctor`` runs
(the queue, suppression and drift units skip themselves without the service's facts)."""

from __future__ import annotations

from postwarden.core.doctor.context import Unit


def standard_units() -> list[Unit]:
    from postwarden.core.doctor.checks.canary import run_canaries
    from postwarden.core.doctor.checks.config import run_config
    from postwarden.core.doctor.checks.dns import run_dns
    from postwarden.core.doctor.checks.links import run_links
    from postwarden.core.doctor.checks.network import run_smtp
    from postwarden.core.doctor.checks.policy import run_policy
    from postwarden.core.doctor.checks.provider import run_provider
    from postwarden.core.doctor.checks.queue import run_drift, run_queue, run_suppressed
    from postwarden.core.doctor.checks.sends import run_recent_sends

    return [
        Unit("config.settings", frozenset({"config"}), run_config, budget=1.0, always=True),
        Unit("config.process_drift", frozenset({"config"}), run_drift, budget=1.0),
        Unit("queue.outbox", frozenset({"queue"}), run_queue, budget=1.0, offline=True),
        # what real mail met names a cause in whichever stage it belongs to
        Unit(
            "queue.recent_sends",
            frozenset({"queue", "network", "tls", "auth", "envelope", "policy", "provider", "dns"}),
            run_recent_sends,
            budget=1.0,
            offline=True,
        ),
        # resolve, connect, TLS, greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, RSET each
        # have their own timeout; the budget stops a server that answers every step just in
        # time, plus the fallback probes
        Unit("network.smtp", frozenset({"network", "tls", "auth", "envelope"}), run_smtp, budget=6.0),
        Unit("policy.settings", frozenset({"policy"}), run_policy, budget=1.0),
        Unit("policy.suppressed", frozenset({"policy"}), run_suppressed, budget=1.0),
        Unit("provider.api", frozenset({"provider", "network"}), run_provider, budget=4.0),
        Unit("dns.records", frozenset({"dns"}), run_dns, budget=4.0),
        Unit("links.urls", frozenset({"links"}), run_links, budget=1.0),
        # the canaries' runs are read from the database: alerts look at them every minute
        Unit("canary.runs", frozenset({"canary"}), run_canaries, budget=1.0, offline=True),
    ]


def database_units() -> list[Unit]:
    """The units that read only the service's database facts: cheap enough to run every
    minute (the monitor's alert evaluation, postwarden.alerts)."""
    return [unit for unit in standard_units() if unit.offline]

"""A whole canary path on loopback: the outbox and the worker send the canary over SMTP
to a receiving server (tests/mx.py) that judges it (Mail::DKIM, Mail::SPF, DMARC against
the tests' DNS server) and files it into a real Dovecot (tests/dovecot.py), where the run
looks for it over IMAP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from postwarden.canaries import runner, store
from postwarden.canaries.models import Canary, CanaryRun, RunState
from postwarden.core.config.model import Settings, SigningSettings
from postwarden.core.dkim import generate_key, public_key_of, txt_record
from postwarden.core.secrets import Secret
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.console.conftest import settings_user, viewer  # noqa: F401 - fixtures
from tests.dnsd import DnsTestServer
from tests.dovecot import DovecotServer
from tests.factories import make_settings
from tests.mx import MxServer, mx_factory  # noqa: F401 - a fixture

SELECTOR = "canary"
FROM_DOMAIN = "example.com"


@dataclass
class Path:
    """Everything between the outbox and the canary mailbox."""

    settings: Settings
    dns: DnsTestServer
    mailbox: DovecotServer
    mx: MxServer
    key: Secret

    def publish(
        self, key: Secret | None = None, *, spf: str = "v=spf1 ip4:127.0.0.1 -all", dmarc: str = "p=reject"
    ) -> None:
        record = txt_record(SELECTOR, FROM_DOMAIN, public_key_of(key or self.key))
        self.dns.load(
            f"{record.name}. 300 IN TXT " + " ".join(f'"{s}"' for s in record.strings) + "\n"
            f'{FROM_DOMAIN}. 300 IN TXT "{spf}"\n'
            f'_dmarc.{FROM_DOMAIN}. 300 IN TXT "v=DMARC1; {dmarc}"\n'
        )

    def canary(self, **changes: Any) -> Canary:
        values: dict[str, Any] = {
            "address": self.mailbox.user,
            "imap_host": self.mailbox.host,
            "imap_port": self.mailbox.port,
            "imap_security": "none",
            "imap_user": self.mailbox.user,
            "imap_password": self.mailbox.password,
            "interval_minutes": 60,
        }
        values.update(changes)
        return store.create(store.CanaryInput(**values))

    def send(self) -> None:
        """One round of the worker: claim, send, record."""

        async def step() -> None:
            worker = Worker(WorkerOptions(worker_id="w-canary"), settings_source=lambda: self.settings)
            await worker.deliver_step()
            await worker.close()

        asyncio.run(step())

    def pass_(self) -> int:
        return runner.run_due(settings=self.settings)

    def run_to_end(self, canary: Canary, *, passes: int = 200) -> CanaryRun:
        """Start a run (if none waits), send its mail, look until it ended (bounded)."""
        if not canary.runs.filter(state=RunState.WAITING).exists():
            store.request_run(canary)
            self.pass_()
        self.send()
        for _ in range(passes):
            run = canary.runs.order_by("-id").first()
            assert run is not None
            if run.state != RunState.WAITING:
                return run
            CanaryRun.objects.filter(pk=run.pk).update(next_poll_at=None)  # due now, no sleeping
            self.pass_()
        raise AssertionError(f"the run did not end in {passes} passes")


@pytest.fixture
def canary_path(
    dns_server: DnsTestServer,
    dovecot: DovecotServer,
    mx_factory: Callable[..., MxServer],  # noqa: F811
) -> Path:
    key = generate_key(2048)
    mx = mx_factory(mailbox=dovecot, dns=dns_server)
    settings = replace(
        make_settings(smtp_port=mx.port),
        signing=SigningSettings(domain=FROM_DOMAIN, selector=SELECTOR, private_key=key),
    )
    path = Path(settings, dns_server, dovecot, mx, key)
    path.publish()
    return path

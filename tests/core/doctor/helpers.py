"""Shared helpers for the doctor's tests: settings from a dict of variables, a doctor
run, DNS zones for a healthy domain, DKIM keys."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postwarden.core.config.model import Origin, Settings
from postwarden.core.config.resolve import Layer, resolve
from postwarden.core.dkim import public_key_of, txt_record
from postwarden.core.doctor.context import Options, Unit
from postwarden.core.doctor.model import CheckResult, Report
from postwarden.core.doctor.runner import run
from postwarden.core.doctor.service import ServiceFacts
from postwarden.core.secrets import Secret

#: a data dir that never exists, so nothing reads or writes ./data
BASE_ENV: Mapping[str, str] = {"POSTWARDEN_DATA_DIR": "/nonexistent/postwarden-doctor-tests"}


def settings(**values: str) -> Settings:
    return resolve(Layer(Origin.ENV, {**BASE_ENV, **values}))


def doctor(
    s: Settings,
    *,
    units: Sequence[Unit] | None = None,
    service: ServiceFacts | None = None,
    on_check: Any = None,
    **options: Any,
) -> Report:
    options.setdefault("timeout", 2.0)
    return asyncio.run(run(s, Options(**options), units=units, service=service, on_check=on_check))


def codes(report: Report) -> list[str]:
    return [f.code.value for f in report.findings]


def finding(report: Report, code: str) -> Any:
    found = [f for f in report.findings if f.code.value == code]
    assert found, f"{code} not among {codes(report)}"
    return found[0]


def check(report: Report, check_id: str) -> CheckResult:
    found = [c for c in report.checks if c.id == check_id]
    assert found, f"{check_id} not among {[c.id for c in report.checks]}"
    return found[0]


@cache
def dkim_key(bits: int = 1024) -> Secret:
    """A throwaway RSA key (1024 bits: fast to make, still accepted by RFC 8301)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Secret(pem.decode("ascii"))


def dkim_zone_line(selector: str, domain: str, key: Secret) -> str:
    record = txt_record(selector, domain, public_key_of(key))
    strings = " ".join(f'"{s}"' for s in record.strings)
    return f"{record.name}. 300 IN TXT {strings}"


def healthy_zone(
    domain: str = "example.com",
    *,
    host_ip: str = "127.0.0.1",
    selector: str = "pw1",
    key: Secret | None = None,
    dmarc: str = "v=DMARC1; p=reject; rua=mailto:dmarc@example.com",
) -> str:
    """SPF for the SMTP host's address, a DKIM key, DMARC, an MX, and mail.<domain>."""
    lines = [
        f'{domain}. 300 IN TXT "v=spf1 ip4:{host_ip} ip6:::1 -all"',
        f"{domain}. 300 IN MX 10 mx.{domain}.",
        f"mx.{domain}. 300 IN A 192.0.2.25",
        f"mail.{domain}. 300 IN A {host_ip}",
        f'_dmarc.{domain}. 300 IN TXT "{dmarc}"',
        dkim_zone_line(selector, domain, key or dkim_key()),
    ]
    return "\n".join(lines)


def healthy_env(dns_address: str, **extra: str) -> dict[str, str]:
    """SMTP to mail.example.com (served by the test zone), signed, with https links."""
    return {
        "SMTP_HOST": "mail.example.com",
        "MAIL_FROM": "ops@example.com",
        "POSTWARDEN_DNS_SERVER": dns_address,
        "APP_URL": "https://app.example.com",
        "DKIM_SELECTOR": "pw1",
        "DKIM_PRIVATE_KEY": dkim_key().reveal(),
        **extra,
    }

"""DKIM on the Email settings page: generate a key pair (stored sealed, like any secret),
show the TXT record to publish, and ask DNS whether it is published — through the
doctor's own DKIM check, so the page and ``postwarden doctor`` never disagree."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from django.utils.translation import gettext as _

from postwarden.configstore.runtime import current_settings, save
from postwarden.console.forms.email import Current
from postwarden.core.config.model import Settings
from postwarden.core.config.resolve import ConfigError
from postwarden.core.dkim import DkimKeyError, TxtRecord, generate_key, public_key_of, txt_record
from postwarden.core.dns import DnsClient, DnsError
from postwarden.core.doctor.checks.dkim import check_own_key
from postwarden.core.i18n import said

log = logging.getLogger("postwarden.console.dkim")

#: RFC 6376 §3.1: a selector is dot-separated labels
_SELECTOR: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$")
DEFAULT_SELECTOR: Final = "postwarden"


@dataclass(frozen=True, slots=True)
class DkimStatus:
    selector: str
    domain: str
    key_set: bool
    key_locked: bool
    record: TxtRecord | None
    problem: str = ""


def status(current: Mapping[str, Current]) -> DkimStatus:
    """What the DKIM block shows. The public half is derived from the stored key; the
    private key itself never leaves this function."""
    try:
        resolved: Settings | None = current_settings()
    except ConfigError:
        resolved = None
    signing = resolved.signing if resolved else None
    selector = (signing.selector if signing else None) or ""
    domain = (signing.domain if signing else None) or ""
    key = current["DKIM_PRIVATE_KEY"]
    record, problem = None, ""
    if signing is not None and signing.private_key and selector and domain:
        try:
            record = txt_record(selector, domain, public_key_of(signing.private_key))
        except DkimKeyError as exc:
            problem = said(exc)
    return DkimStatus(selector, domain, bool(key.masked), key.locked, record, problem)


@dataclass(frozen=True, slots=True)
class DkimActionResult:
    ok: bool
    message: str


def generate(selector: str, domain: str, user: object) -> DkimActionResult:
    """Make a 2048-bit key pair and save it with the selector (and domain, when given)."""
    selector = selector.strip() or DEFAULT_SELECTOR
    if not _SELECTOR.match(selector):
        return DkimActionResult(
            False,
            _("%(selector)s is not a valid DKIM selector (letters, digits and hyphens).")
            % {"selector": repr(selector)},
        )
    locked = {name for name, state in _locks().items() if state}
    if "DKIM_PRIVATE_KEY" in locked:
        return DkimActionResult(False, _("DKIM_PRIVATE_KEY is set by the environment; change it there."))
    values = {"DKIM_PRIVATE_KEY": generate_key(2048).reveal()}
    if "DKIM_SELECTOR" not in locked:
        values["DKIM_SELECTOR"] = selector
    if domain.strip() and "DKIM_DOMAIN" not in locked:
        values["DKIM_DOMAIN"] = domain.strip().lower()
    save(values, user)
    log.info("dkim key generated", extra={"by": getattr(user, "pk", None), "selector": selector})
    return DkimActionResult(
        True, _("A new DKIM key was generated and saved. Publish the TXT record below, then check it.")
    )


def _locks() -> dict[str, bool]:
    from postwarden.console.forms.email import current_values

    return {name: state.locked for name, state in current_values().items() if name.startswith("DKIM_")}


@dataclass(frozen=True, slots=True)
class Published:
    ok: bool
    detail: str
    code: str = ""
    evidence: str = ""
    steps: tuple[str, ...] = ()


def check_published(resolved: Settings | None) -> Published:
    """Ask DNS (POSTWARDEN_DNS_SERVER, else the system resolver) for the key at the
    selector, with the doctor's own check: published, and the public half of ours?"""
    signing = resolved.signing if resolved else None
    if (
        resolved is None
        or signing is None
        or not signing.private_key
        or not signing.selector
        or not signing.domain
    ):
        return Published(False, _("Generate a key (or set DKIM_PRIVATE_KEY and DKIM_SELECTOR) first."))
    client = DnsClient(resolved.service.dns_server, timeout=5.0)
    try:
        result = asyncio.run(check_own_key(client, signing.selector, signing.domain, signing.private_key))
    except DnsError as exc:
        return Published(False, _("DNS did not answer"), evidence=str(exc))
    if result.finding is None:
        return Published(True, result.detail)
    finding = result.finding
    return Published(False, finding.title, finding.code.value, finding.evidence, finding.steps)

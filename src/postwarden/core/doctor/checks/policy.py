"""The policy stage, as far as the settings alone tell: is the test recipient's domain
among the approved domains (``MAIL_ALLOWED_DOMAINS``)?

Suppression and the member exemption need the database; the Django adapter
(:mod:`postwarden.doctor`) runs the outbox's own policy for those, with the same words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.senders import mail_domain
from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder


async def run_policy(ctx: Context, rec: Recorder) -> None:
    allowed = ctx.settings.sending.allowed_domains
    if ctx.recipient is None:
        rec.check(
            "policy.approved_domains", Status.SKIP, Text("no recipient (--to, TEST_EMAIL or MAIL_FROM)")
        )
        return
    if not allowed:
        rec.check(
            "policy.approved_domains",
            Status.PASS,
            Text("MAIL_ALLOWED_DOMAINS is empty: every domain is allowed"),
        )
        return
    domain = mail_domain(ctx.recipient)
    if domain in allowed:
        rec.check("policy.approved_domains", Status.PASS, Text("{domain} is approved", domain=domain))
        return
    if ctx.service is not None and ctx.recipient.lower() in ctx.service.members:
        rec.check(
            "policy.approved_domains",
            Status.PASS,
            Text("{recipient} is a member (exempt)", recipient=ctx.recipient),
        )
        return
    evidence = Text(
        "{recipient}: {domain} is not in MAIL_ALLOWED_DOMAINS={allowed}",
        recipient=ctx.recipient,
        domain=domain,
        allowed=",".join(allowed),
    )
    rec.finding(
        Finding.of(
            Code.POLICY_DOMAIN_NOT_APPROVED,
            evidence,
            (
                Text("Add {domain} to MAIL_ALLOWED_DOMAINS (comma-separated, no spaces), or", domain=domain),
                Text("add the recipient as a member in the console (members are exempt), or"),
                Text("send the test to an address in an approved domain (--to)."),
            ),
        )
    )
    rec.check("policy.approved_domains", Status.FAIL, evidence)

"""Resend: is the key valid, and is the From domain verified?

Documented endpoint: ``GET /domains`` (Bearer key) answers ``{"data": [{"name", "status":
"verified"|"pending"|"not_started"|"failed"|"temporary_failure", …}]}``. A send-only key
answers 401 ``restricted_api_key``: valid, but it cannot list domains. Without a verified
domain Resend sends only from ``onboarding@resend.dev`` to the account's own address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.base import Api, domain_covers, sender_unverified
from postwarden.core.doctor.senders import mail_domain
from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

DEFAULT_URL: Final = "https://api.resend.com/"
TEST_DOMAIN: Final = "resend.dev"


async def probe(ctx: Context, rec: Recorder) -> None:
    key = ctx.settings.provider.secret("RESEND_API_KEY").reveal()
    api = Api(
        ctx, rec, "Resend", ctx.settings.provider.api_url or DEFAULT_URL, {"Authorization": f"Bearer {key}"}
    )
    response = await api.call("GET", "domains")
    evidence = api.evidence("GET", "domains", response)
    body: Any = response.json() or {}
    if response.status == 401 and body.get("name") == "restricted_api_key":
        rec.check(
            "provider.api", Status.PASS, Text("the API key is accepted (send-only: domains not readable)")
        )
        rec.check("provider.sender", Status.SKIP, Text("a send-only key cannot list domains"))
        return
    if response.status in (401, 403):
        api.refuse_key(evidence, "RESEND_API_KEY")
    if response.status >= 400:
        api.server_error(evidence)
    rec.check("provider.api", Status.PASS, Text("the API key is accepted"))
    domain = mail_domain(ctx.settings.sending.from_address)
    if domain == TEST_DOMAIN:
        rec.finding(
            Finding.of(
                Code.PROVIDER_SANDBOX,
                Text("MAIL_FROM is at {TEST_DOMAIN}, Resend's testing domain", TEST_DOMAIN=TEST_DOMAIN),
                (
                    Text(
                        "{TEST_DOMAIN} sends only to the address of your Resend account.",
                        TEST_DOMAIN=TEST_DOMAIN,
                    ),
                    Text("Verify your own domain under Domains in Resend and use it in MAIL_FROM."),
                ),
            )
        )
        rec.check("provider.account", Status.FAIL, Text("testing domain {domain}", domain=TEST_DOMAIN))
        return
    domains = [d for d in body.get("data", []) if isinstance(d, dict)]
    matches = [d for d in domains if domain_covers(str(d.get("name", "")), domain)]
    if any(d.get("status") == "verified" for d in matches):
        rec.check("provider.sender", Status.PASS, Text("{domain} is verified", domain=domain))
        return
    state = ", ".join(f"{d.get('name')}: {d.get('status')}" for d in matches) or Text("not added")
    sender_unverified(
        rec,
        "Resend",
        Text("{domain} ({state}); {evidence}", domain=domain, state=state, evidence=evidence),
        (
            Text(
                "Add {domain} under Domains in Resend, publish the records it shows, and wait for status "
                "verified.",
                domain=domain,
            ),
        ),
    )

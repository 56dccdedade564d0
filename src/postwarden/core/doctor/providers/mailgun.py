"""Mailgun: is the key valid, is MAILGUN_DOMAIN verified, a sandbox, or disabled?

Documented endpoint: ``GET /v3/domains/<domain>`` (HTTP basic auth ``api:<key>``) answers
``{"domain": {"name", "state": "active"|"unverified"|"disabled", "type": "sandbox"|"custom",
"is_disabled", …}}``. Sandbox domains (``sandbox….mailgun.org``) deliver only to
authorized recipients; EU accounts set ``MAILGUN_API_URL=https://api.eu.mailgun.net/v3``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Final

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.base import Api, sender_unverified
from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

DEFAULT_URL: Final = "https://api.mailgun.net/v3"


async def probe(ctx: Context, rec: Recorder) -> None:
    provider = ctx.settings.provider
    key = provider.secret("MAILGUN_API_KEY").reveal()
    token = base64.b64encode(f"api:{key}".encode()).decode("ascii")
    api = Api(ctx, rec, "Mailgun", provider.api_url or DEFAULT_URL, {"Authorization": f"Basic {token}"})
    name = provider.option("MAILGUN_DOMAIN") or ""
    path = f"domains/{name}"
    response = await api.call("GET", path)
    evidence = api.evidence("GET", path, response)
    if response.status in (401, 403):
        api.refuse_key(
            evidence,
            "MAILGUN_API_KEY",
            (
                Text(
                    "Use a Mailgun API key (Account > API keys), and for an EU account set "
                    "MAILGUN_API_URL=https://api.eu.mailgun.net/v3."
                ),
            ),
        )
    if response.status == 404:
        rec.check("provider.api", Status.PASS, Text("the API key is accepted"))
        sender_unverified(
            rec,
            "Mailgun",
            evidence,
            (
                Text(
                    "Add {name} under Sending > Domains in Mailgun, or set MAILGUN_DOMAIN to a domain of "
                    "this account (an EU domain needs MAILGUN_API_URL=https://api.eu.mailgun.net/v3).",
                    name=name,
                ),
            ),
        )
        return
    if response.status >= 400:
        api.server_error(evidence)
    rec.check("provider.api", Status.PASS, Text("the API key is accepted"))
    domain = (response.json() or {}).get("domain") or {}
    _judge(rec, name, domain, evidence)


def _judge(rec: Recorder, name: str, domain: dict[str, object], evidence: str) -> None:
    state = str(domain.get("state", ""))
    facts = f"{name}: state={state}, type={domain.get('type', '')}"
    if domain.get("is_disabled") or state == "disabled":
        rec.finding(
            Finding.of(
                Code.PROVIDER_ACCOUNT_SUSPENDED,
                evidence,
                (
                    Text(
                        "Mailgun has disabled {name}: see the domain's page and your account's billing and "
                        "compliance notices, or contact Mailgun support.",
                        name=name,
                    ),
                ),
            )
        )
        rec.check("provider.account", Status.FAIL, facts)
        return
    if domain.get("type") == "sandbox" or name.startswith("sandbox"):
        rec.finding(
            Finding.of(
                Code.PROVIDER_SANDBOX,
                evidence,
                (
                    Text(
                        "{name} is a sandbox domain: it delivers only to authorized recipients (at most 5).",
                        name=name,
                    ),
                    Text("Add and verify your own sending domain in Mailgun and set MAILGUN_DOMAIN to it."),
                ),
            )
        )
        rec.check("provider.account", Status.FAIL, facts)
        return
    rec.check("provider.account", Status.PASS, facts)
    if state != "active":
        sender_unverified(
            rec,
            "Mailgun",
            evidence,
            (
                Text(
                    "Publish the DNS records Mailgun lists for {name} (Sending > Domains > DNS records) and "
                    "click Verify.",
                    name=name,
                ),
            ),
        )
        return
    rec.check("provider.sender", Status.PASS, Text("{name} is verified", name=name))

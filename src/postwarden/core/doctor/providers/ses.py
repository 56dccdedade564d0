"""Amazon SES: are the keys valid, is the account out of the sandbox and allowed to
send, and are the sender (and, in the sandbox, the recipient) verified identities?

Requests are signed with botocore's SigV4 (boto3 is the optional ``[ses]`` extra and is
imported only here, only when SES is configured) and sent through the doctor's HTTP
client, so the endpoint's address comes from the doctor's resolver like every other
lookup. Calls: SES v2 ``GET /v2/email/account`` (``ProductionAccessEnabled``,
``SendingEnabled``, ``EnforcementStatus``); where that is not available (an IAM policy
without ``ses:GetAccount``, or an endpoint that only speaks v1), v1 ``GetSendQuota``,
whose sandbox quota is 200 messages a day at 1 a second; v1
``GetIdentityVerificationAttributes`` for the From address, its domain and the recipient.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.base import Api, ProbeStop, sender_unverified
from postwarden.core.doctor.providers.http import HttpResponse
from postwarden.core.doctor.senders import mail_domain
from postwarden.core.i18n import Number, Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: AWS documents these quotas for every account in the sandbox
SANDBOX_QUOTA: Final = (200.0, 1.0)
_AUTH_ERRORS: Final = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
    }
)


class _SignedApi(Api):
    region: str = ""

    async def signed(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> HttpResponse:
        from botocore.auth import SigV4Auth  # the [ses] extra: only when SES is configured
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        provider = self.ctx.settings.provider
        creds = Credentials(
            provider.option("AWS_ACCESS_KEY_ID") or "", provider.secret("AWS_SECRET_ACCESS_KEY").reveal()
        )
        headers = {"Content-Type": content_type} if content_type else {}
        request = AWSRequest(method=method, url=self.url(path), data=body or b"", headers=headers)
        SigV4Auth(creds, "ses", self.region).add_auth(request)
        return await self.call(method, path, body=body, headers=dict(request.headers.items()))

    async def v1(self, action: str, **params: str) -> HttpResponse:
        form = urlencode({"Action": action, "Version": "2010-12-01", **params}).encode()
        return await self.signed("POST", "/", form, "application/x-www-form-urlencoded; charset=utf-8")


def _error_code(response: HttpResponse) -> str:
    """AWS error code from a v1 XML or v2 JSON error answer."""
    kind = response.headers.get("x-amzn-errortype", "").split(":")[0]
    if kind:
        return kind
    data = response.json()
    if isinstance(data, dict):
        return str(data.get("__type") or data.get("code") or "").split("#")[-1]
    try:
        root = ET.fromstring(response.body)  # noqa: S314 - the answer of the configured endpoint, not user input
    except ET.ParseError:
        return ""
    found = next((el.text for el in root.iter() if el.tag.endswith("Code")), "")
    return found or ""


def _xml_values(response: HttpResponse, tag: str) -> list[str]:
    try:
        root = ET.fromstring(response.body)  # noqa: S314
    except ET.ParseError:
        return []
    return [el.text or "" for el in root.iter() if el.tag.split("}")[-1] == tag]


async def probe(ctx: Context, rec: Recorder) -> None:
    provider = ctx.settings.provider
    region = provider.option("AWS_REGION") or "us-east-1"
    api = _SignedApi(ctx, rec, "Amazon SES", provider.api_url or f"https://email.{region}.amazonaws.com", {})
    api.region = region
    in_sandbox = await _account(ctx, rec, api)
    await _identities(ctx, rec, api, in_sandbox)


async def _account(ctx: Context, rec: Recorder, api: _SignedApi) -> bool:
    response = await api.signed("GET", "/v2/email/account")
    evidence = api.evidence("GET", "/v2/email/account", response)
    code = _error_code(response) if response.status >= 400 else ""
    if code in _AUTH_ERRORS:
        api.refuse_key(
            evidence,
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            (
                Text(
                    "Use the IAM user's access key for region {region} (SES SMTP credentials are not API "
                    "keys).",
                    region=api.region,
                ),
            ),
        )
    if response.status == 200:
        account: Any = response.json() or {}
        rec.check(
            "provider.api", Status.PASS, Text("the keys are accepted (region {region})", region=api.region)
        )
        if account.get("EnforcementStatus") == "SHUTDOWN" or account.get("SendingEnabled") is False:
            rec.finding(
                Finding.of(
                    Code.PROVIDER_ACCOUNT_SUSPENDED,
                    f"{evidence[:200]} (SendingEnabled={account.get('SendingEnabled')}, "
                    f"EnforcementStatus={account.get('EnforcementStatus')})",
                    (
                        Text(
                            "Open the SES console's Account dashboard and the AWS Health dashboard for the "
                            "reason (bounce or complaint rates) and appeal or fix it."
                        ),
                    ),
                )
            )
            rec.check("provider.account", Status.FAIL, Text("sending is paused for this account"))
            raise ProbeStop(Text("suspended"))
        sandbox = account.get("ProductionAccessEnabled") is False
        rec.check(
            "provider.account",
            Status.PASS if not sandbox else Status.FAIL,
            Text("in the sandbox") if sandbox else Text("production access"),
        )
        return sandbox
    return await _quota(rec, api)


async def _quota(rec: Recorder, api: _SignedApi) -> bool:
    response = await api.v1("GetSendQuota")
    evidence = api.evidence("POST", "/ GetSendQuota", response)
    if _error_code(response) in _AUTH_ERRORS:
        api.refuse_key(evidence, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if response.status >= 400:
        api.server_error(evidence)
    rec.check("provider.api", Status.PASS, Text("the keys are accepted (region {region})", region=api.region))
    quota = tuple(
        float(v or 0)
        for v in (*_xml_values(response, "Max24HourSend"), *_xml_values(response, "MaxSendRate"))
    )
    sandbox = quota == SANDBOX_QUOTA
    rec.check(
        "provider.account",
        Status.FAIL if sandbox else Status.PASS,
        _quota_said(quota, sandbox) if len(quota) == 2 else Text("send quota not reported"),
    )
    return sandbox


def _quota_said(quota: tuple[float, ...], sandbox: bool) -> Text:
    figures = {"day": Number(quota[0]), "second": Number(quota[1])}
    if sandbox:
        return Text("send quota {day:g}/24 h at {second:g}/s (the sandbox quota)", **figures)
    return Text("send quota {day:g}/24 h at {second:g}/s", **figures)


async def _identities(ctx: Context, rec: Recorder, api: _SignedApi, in_sandbox: bool) -> None:
    address = (ctx.settings.sending.from_address or "").lower()
    domain = mail_domain(address)
    recipient = (ctx.recipient or "").lower()
    wanted = list(dict.fromkeys(i for i in (address, domain, *_parents(domain), recipient) if i))
    params = {f"Identities.member.{n}": identity for n, identity in enumerate(wanted, 1)}
    response = await api.v1("GetIdentityVerificationAttributes", **params)
    keys, statuses = _xml_values(response, "key"), _xml_values(response, "VerificationStatus")
    verified = {k.lower() for k, s in zip(keys, statuses, strict=False) if s == "Success"}
    region = api.region
    if in_sandbox:
        rcpt_ok = recipient in verified or mail_domain(recipient) in verified
        rec.finding(
            Finding.of(
                Code.PROVIDER_SANDBOX,
                Text("region {region}: the account is in the SES sandbox", region=region)
                if rcpt_ok
                else Text(
                    "region {region}: the account is in the SES sandbox; the recipient {recipient} is not a "
                    "verified identity",
                    region=region,
                    recipient=recipient,
                ),
                (
                    Text(
                        "Request production access for region {region} (SES console > Account dashboard).",
                        region=region,
                    ),
                    Text(
                        "Until then SES delivers only to verified addresses: verify the test recipient to "
                        "try it."
                    ),
                ),
            )
        )
    if response.status >= 400:
        rec.check(
            "provider.sender",
            Status.SKIP,
            api.evidence("POST", "/ GetIdentityVerificationAttributes", response),
        )
        return
    if address in verified or domain in verified or verified.intersection(_parents(domain)):
        rec.check(
            "provider.sender",
            Status.PASS,
            Text(
                "{identity} is verified in {region}",
                identity=address if address in verified else domain,
                region=region,
            ),
        )
        return
    sender_unverified(
        rec,
        "Amazon SES",
        Text(
            "region {region}: neither {address} nor {domain} is a verified identity ({answer})",
            region=region,
            address=address,
            domain=domain,
            answer=json.dumps(dict(zip(keys, statuses, strict=False))),
        ),
        (
            Text(
                "Verify {domain} (or {address}) in the SES console for region {region}: identities are per "
                "region.",
                domain=domain,
                address=address,
                region=region,
            ),
        ),
    )


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]

"""What every provider probe shares: calling the API, and turning "no answer", "key
refused" and friends into the doctor's findings with the provider's exact words.

Probes are read-only: they ask who the key belongs to, whether the account may send
and whether the sender is verified; they never send mail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.http import HttpFailure, HttpResponse, request
from postwarden.core.i18n import Text, said

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: how much of a provider's answer is quoted as evidence
EVIDENCE_CHARS: Final = 300


class ProbeStop(Exception):
    """The probe cannot go on (no answer, key refused); the finding is recorded."""


@dataclass
class Api:
    """One provider API: base URL (``<PROVIDER>_API_URL`` or the documented default),
    the headers that authenticate, and the provider's name for messages."""

    ctx: Context
    rec: Recorder
    name: str
    base: str
    headers: Mapping[str, str]

    def url(self, path: str) -> str:
        return self.base.rstrip("/") + "/" + path.lstrip("/")

    async def call(
        self, method: str, path: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """The answer, whatever its status. Raises :class:`ProbeStop` (after recording
        ``network.dns_unresolvable`` or ``provider.unreachable``) when none comes."""
        url = self.url(path)
        with self.rec.timed() as t:
            try:
                return await request(
                    self.ctx.dns,
                    method,
                    url,
                    headers={**self.headers, **(headers or {})},
                    body=body,
                    timeout=self.ctx.timeout,
                )
            except HttpFailure as exc:
                self._unreachable(url, exc, t.ms)
        raise ProbeStop(url)  # pragma: no cover - _unreachable raises

    def _unreachable(self, url: str, exc: HttpFailure, ms: int) -> None:
        host = urlsplit(url).hostname or url
        if exc.kind == "dns":
            self.rec.finding(
                Finding.of(
                    Code.NETWORK_DNS_UNRESOLVABLE,
                    said(exc),
                    (
                        Text(
                            "Check the {name} API host name ({host}); if <PROVIDER>_API_URL is set, check "
                            "its spelling.",
                            name=self.name,
                            host=host,
                        ),
                        Text(
                            "Check that this machine can resolve names ({description}).",
                            description=self.ctx.dns.description,
                        ),
                    ),
                    title=Text("The {name} API host does not resolve", name=self.name),
                ),
                blocking=True,  # reported under --only provider too: it is why the provider was not checked
            )
        else:
            self.rec.finding(
                Finding.of(
                    Code.PROVIDER_UNREACHABLE,
                    said(exc),
                    (
                        Text(
                            "Check that this machine can reach {host} over HTTPS (firewall, proxy, egress "
                            "rules).",
                            host=host,
                        ),
                        Text("Check {name}'s status page for an outage.", name=self.name),
                    ),
                )
            )
        self.rec.check("provider.api", Status.FAIL, said(exc), duration_ms=ms)
        raise ProbeStop(url)

    def evidence(self, method: str, path: str, response: HttpResponse) -> str:
        """``GET /v3/scopes: HTTP 401: {"errors": …}`` - JSON bodies compacted to one line."""
        shown = urlsplit(self.url(path)).path
        data = response.json()
        body = " ".join(response.text.split()) if data is None else json.dumps(data, ensure_ascii=False)
        return f"{method} {shown}: HTTP {response.status}: {body[:EVIDENCE_CHARS]}"

    def refuse_key(self, evidence: str, key_name: str, steps: Sequence[str] = ()) -> None:
        self.stop(
            Code.PROVIDER_INVALID_CREDENTIALS,
            evidence,
            (
                Text(
                    "Check {key_name}: copy the key again from the {name} dashboard (no spaces or quotes "
                    "around it).",
                    key_name=key_name,
                    name=self.name,
                ),
                *steps,
            ),
        )

    def server_error(self, evidence: str) -> None:
        self.stop(
            Code.PROVIDER_UNREACHABLE,
            evidence,
            (
                Text(
                    "{name}'s API answered with a server error: check its status page and try again later.",
                    name=self.name,
                ),
            ),
        )

    def stop(self, code: Code, evidence: str, steps: Sequence[str]) -> None:
        """Record ``code`` as why the API check failed, and end the probe."""
        self.rec.finding(Finding.of(code, evidence, steps))
        self.rec.check("provider.api", Status.FAIL, evidence)
        raise ProbeStop(evidence)


def domain_covers(verified: str, domain: str) -> bool:
    """A verified domain covers itself and its subdomains."""
    verified = verified.lower().rstrip(".")
    return domain == verified or domain.endswith("." + verified)


def sender_unverified(rec: Recorder, name: str, evidence: str, steps: Sequence[str]) -> None:
    rec.finding(
        Finding.of(
            Code.PROVIDER_SENDER_UNVERIFIED,
            evidence,
            (
                *steps,
                Text("Or set MAIL_FROM to an address at a domain that is verified with {name}.", name=name),
            ),
        )
    )
    rec.check("provider.sender", Status.FAIL, evidence)

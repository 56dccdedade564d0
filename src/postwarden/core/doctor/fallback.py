"""When the configured security mode or port fails at the network or TLS stage, try the
other modes on their usual ports and say which one works.

Metabase does this silently when settings are saved (it tries tls, starttls, ssl in turn
and stores whichever connects, docs/reference/mission-anchors.md §1.3); the doctor does it in the open: the
alternatives are tried concurrently, each bounded by the step timeout, only up to EHLO
(and TLS) - no credentials are sent to a mode the operator did not choose - and the
result is a step of the finding: "SMTP_SECURITY=ssl on port 465 works".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from postwarden.core.config.model import Security
from postwarden.core.i18n import Number, Text, join
from postwarden.core.secrets import EMPTY
from postwarden.core.smtp.errors import SmtpError
from postwarden.core.smtp.model import Endpoint, Resolver
from postwarden.core.smtp.session import SmtpSession


@dataclass(frozen=True, slots=True)
class FallbackAttempt:
    security: Security
    port: int
    works: bool
    detail: str

    @property
    def setting(self) -> Text:
        return Text("SMTP_SECURITY={security} on port {port}", security=self.security.value, port=self.port)

    @property
    def said(self) -> Text:
        """``starttls:587 works`` or ``ssl:465 fails: …``, for the ``network.other_modes`` check."""
        mode = f"{self.security.value}:{self.port}"
        if self.works:
            return Text("{mode} works", mode=mode)
        return Text("{mode} fails: {detail}", mode=mode, detail=self.detail)


def alternatives(configured: Endpoint, usual: Mapping[Security, Sequence[int]]) -> list[tuple[Security, int]]:
    """Every (mode, port) of ``usual`` except the configured pair, in table order."""
    pairs = [(mode, port) for mode, ports in usual.items() for port in ports]
    return [p for p in dict.fromkeys(pairs) if p != (configured.security, configured.port)]


async def try_alternatives(
    configured: Endpoint, usual: Mapping[Security, Sequence[int]], *, resolver: Resolver
) -> list[FallbackAttempt]:
    """Try each alternative once, concurrently; each is bounded by ``configured.timeout``."""
    pairs = alternatives(configured, usual)
    return list(await asyncio.gather(*(_attempt(configured, mode, port, resolver) for mode, port in pairs)))


async def _attempt(configured: Endpoint, mode: Security, port: int, resolver: Resolver) -> FallbackAttempt:
    endpoint = replace(configured, security=mode, port=port, user=None, password=EMPTY, token=None)
    session = SmtpSession(endpoint, resolver=resolver)
    try:
        async with asyncio.timeout(configured.timeout * 3):  # connect, handshake and replies each bounded too
            await session.open()
    except SmtpError as exc:
        return FallbackAttempt(mode, port, False, exc.said())
    except TimeoutError:
        session.abort()
        seconds = Number(configured.timeout * 3)
        return FallbackAttempt(mode, port, False, Text("no answer within {seconds:g} s", seconds=seconds))
    encrypted = session.tls is not None
    await session.quit()
    if mode is Security.OPPORTUNISTIC and not encrypted:
        return FallbackAttempt(mode, port, False, Text("connects, but offers no STARTTLS (plain text only)"))
    if session.tls is not None:
        return FallbackAttempt(mode, port, True, Text("connects with {version}", version=session.tls.version))
    return FallbackAttempt(mode, port, True, Text("connects"))


def working_step(attempts: Sequence[FallbackAttempt]) -> Text | None:
    """The step to add to the finding, or None when no alternative works."""
    works = [a.setting for a in attempts if a.works]
    if not works:
        return None
    if len(works) == 1:
        return Text("{setting} works: set that instead.", setting=works[0])
    return Text(
        "{setting} works: set that instead (also: {others}).", setting=works[0], others=join("; ", works[1:])
    )

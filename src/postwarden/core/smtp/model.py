"""The records the SMTP session takes and gives: where to connect, what each step did,
what a message's transaction got. Plain frozen data."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from postwarden.core.config.model import Security, SmtpSettings
from postwarden.core.oauth.cache import TokenCache, source_for
from postwarden.core.secrets import EMPTY, Secret
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

#: host, port -> [(ip, port)]: the doctor passes one that asks its --dns-server
Resolver = Callable[[str, int], Awaitable[list[tuple[str, int]]]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect. ``repr`` shows the password as ``Secret('••••')``."""

    host: str
    port: int
    security: Security
    user: str | None = None
    password: Secret = EMPTY
    #: seconds for the connect, the TLS handshake and each reply
    timeout: float = 20.0
    #: the EHLO name; None = this machine's FQDN (an address literal if it has no dot)
    ehlo_name: str | None = None
    verify_certificate: bool = True
    #: SMTP_AUTH=oauth2: where the access token comes from (shared by every session
    #: opened with this endpoint); the password is then not used
    token: TokenCache | None = field(default=None, compare=False)

    @property
    def wants_auth(self) -> bool:
        return bool(self.user) or self.password.is_set or self.token is not None

    @classmethod
    def from_settings(cls, s: SmtpSettings, *, timeout: float | None = None) -> Endpoint:
        """``timeout`` replaces ``s.timeout`` (the doctor's ``--timeout``). Raises
        ValueError (a configuration error, outside the SmtpError family) when ``s.host``
        is not set, or the OAuth2 settings are incomplete."""
        if not s.host:
            raise ValueError("SMTP_HOST is not set")
        seconds = s.timeout if timeout is None else timeout
        token = None
        if s.oauth2 is not None:
            if not s.user:
                raise ValueError("SMTP_USER must be set to the mailbox to send as (SMTP_AUTH=oauth2)")
            token = TokenCache(source_for(s.oauth2, user=s.user, timeout=seconds))
        password = s.password if token is None else EMPTY
        return cls(
            s.host, s.port, s.security, s.user, password, seconds, s.ehlo_name, s.verify_certificate, token
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One step the session took, as the doctor lists it."""

    stage: SmtpStage
    ok: bool
    duration_ms: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    """Per-recipient RCPT replies, the reply to the end of data, the server's queue id."""

    accepted: dict[str, Reply] = field(default_factory=dict)
    refused: dict[str, Reply] = field(default_factory=dict)
    data_reply: Reply | None = None
    queue_id: str | None = None


@dataclass(frozen=True, slots=True)
class SmtpOutgoing:
    """One message for :meth:`SmtpSession.send_many`: the arguments of ``send``."""

    sender: str
    recipients: Sequence[str]
    data: bytes
    #: the message needs SMTPUTF8 (UTF-8 in its header fields): not sent without it
    smtputf8: bool = False


async def system_resolver(host: str, port: int) -> list[tuple[str, int]]:
    """The operating system's answer (``/etc/hosts`` included), in its order, deduplicated."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos))

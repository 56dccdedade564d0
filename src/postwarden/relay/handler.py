"""What the relay does with a session's requests: EHLO keywords, AUTH with API keys,
recipient policy at RCPT, and storing the message at the end of DATA.

Policy refusals come at RCPT with the outbox's own reasons (the API's words), with codes
that the reply knowledge base reads as what they are (core.replies.classify):
an address outside the approved domains gets ``550 5.7.1`` (policy.domain_not_approved),
a suppressed one ``550 5.1.1`` (policy.suppressed). A held recipient (the
kill switch, EMAIL_ENABLED=false) is accepted and held, as the API does.
"""

from __future__ import annotations

import binascii
import logging
from base64 import b64decode
from datetime import UTC, datetime
from typing import Final, Protocol

from aiosmtpd.smtp import AuthResult, Envelope, Session

from postwarden.outbox.models import State
from postwarden.outbox.submission import new_public_id
from postwarden.relay import trace
from postwarden.relay.auth import FailureThrottle, Identity, credential_digest
from postwarden.relay.protocol import LOCAL_ERROR, RelaySMTP
from postwarden.relay.store import MAX_REPLY_TEXT, Stored, Submission

log = logging.getLogger("postwarden.relay")

INVALID: Final = "535 5.7.8 Authentication credentials invalid"
#: a credential that failed too often (it is not looked up again for a while); RFC 4954
#: 6's temporary failure, and the session goes on (another credential may follow)
THROTTLED: Final = "454 4.7.0 Error: this password failed too many times; try again later"
#: an address that failed too often: each further failure ends the session
GUESSING: Final = "421 4.7.0 Error: too many failed authentication attempts from this address; closing"
#: what LOGIN asks (draft-murchison-sasl-login), base64-encoded on the wire: the usual
#: words, rather than aiosmtpd's "User Name\0" with its trailing NUL
_USERNAME, _PASSWORD = "Username:", "Password:"
#: the policy state -> the RCPT reply code
_REFUSALS: Final[dict[str, str]] = {State.REFUSED: "550 5.7.1", State.SUPPRESSED: "550 5.1.1"}


class SessionGateway(Protocol):
    async def verify(self, password: str) -> Identity | None: ...

    async def policy(self, address: str) -> tuple[str, str]: ...

    async def store(self, submission: Submission) -> Stored: ...


class SessionHandler:
    """What every handler of a :class:`RelaySMTP` session answers alike (the relay's, the
    bounce listener's): EHLO offers PIPELINING, an unexpected error is logged and answered
    with a temporary failure."""

    #: the logger and the words an unexpected error of a session is logged with
    session_log: logging.Logger = log
    session_failed: str = "relay session failed"

    async def handle_EHLO(
        self, server: RelaySMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands from a stream, so pipelined groups work; saying so
        # saves clients that pipeline (RFC 2920) two round trips per message
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_exception(self, error: Exception) -> str:
        self.session_log.error("%s: %s", self.session_failed, type(error).__name__, exc_info=error)
        return LOCAL_ERROR


class RelayHandler(SessionHandler):
    """The aiosmtpd handler shared by every session of a relay."""

    def __init__(self, gateway: SessionGateway, throttle: FailureThrottle | None = None) -> None:
        self.gateway = gateway
        self.throttle = throttle or FailureThrottle()

    # ------------------------------------------------------------------- AUTH

    async def auth_PLAIN(self, server: RelaySMTP, args: list[str]) -> AuthResult:
        blob = await _initial(server, args) if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, bytes):
            return AuthResult(success=False, handled=True)
        fields = blob.split(b"\x00")
        if len(fields) != 3:
            await server.push("501 5.5.2 Error: PLAIN takes authzid NUL user NUL password")
            return AuthResult(success=False, handled=True)
        return await self._verify(server, fields[2])

    async def auth_LOGIN(self, server: RelaySMTP, args: list[str]) -> AuthResult:
        # any username will do: the password (an API key) says who this is
        user = await _initial(server, args) if len(args) > 1 else await server.challenge_auth(_USERNAME)
        if not isinstance(user, bytes):
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth(_PASSWORD)
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._verify(server, password)

    async def _verify(self, server: RelaySMTP, password: bytes) -> AuthResult:
        client = server.client_ip
        credential = credential_digest(password)
        if self.throttle.blocked(credential):
            log.warning("relay AUTH refused: this password failed too often", extra={"client": client})
            return AuthResult(success=False, handled=False, message=THROTTLED)
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        identity = await self.gateway.verify(text) if text else None
        if identity is None:
            self.throttle.failed(client, credential)
            log.warning("relay AUTH failed", extra={"client": client})
            if self.throttle.exhausted(client):
                return await self._refuse(server, GUESSING)
            return AuthResult(success=False, handled=False, message=INVALID)
        return AuthResult(success=True, auth_data=identity)

    async def _refuse(self, server: RelaySMTP, reply: str) -> AuthResult:
        await server.push(reply)
        server.hang_up()
        return AuthResult(success=False, handled=True)

    # -------------------------------------------------------------- RCPT, DATA

    async def check_recipient(self, session: Session, address: str) -> str | None:
        state, reason = await self.gateway.policy(address)
        code = _REFUSALS.get(state)
        if code is None:
            return None
        return f"{code} <{address}>: {reason}"[: MAX_REPLY_TEXT + 20]

    async def deliver(self, server: RelaySMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        identity = session.auth_data if isinstance(session.auth_data, Identity) else None
        public_id = new_public_id()
        tls = _tls(server)
        with_keyword = trace.protocol(
            extended=bool(session.extended_smtp),
            tls=server.tls,
            authenticated=identity is not None,
            utf8=bool(envelope.smtp_utf8),
        )
        stamp = trace.received(
            client_ip=server.client_ip,
            helo=session.host_name,
            by=server.hostname,
            protocol=with_keyword,
            tls=tls,
            key_name=identity.name if identity else None,
            queue_id=public_id,
            now=datetime.now(UTC),
        )
        submission = Submission(
            content=content,
            mail_from=envelope.mail_from or "",
            recipients=tuple(envelope.rcpt_tos),
            client=server.client_ip,
            identity=identity,
            tls=server.tls,
            public_id=public_id,
            trace=stamp,
        )
        stored = await self.gateway.store(submission)
        return stored.reply


def _tls(server: RelaySMTP) -> trace.Tls | None:
    """The session's TLS version and cipher (STARTTLS or implicit), None in the clear."""
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    name, bits = (cipher[0], cipher[2]) if cipher else ("unknown", 0)
    return trace.Tls(ssl_object.version() or "TLS", name, int(bits or 0))


async def _initial(server: RelaySMTP, args: list[str]) -> bytes | None:
    """The initial response of ``AUTH <mechanism> <base64>`` (RFC 4954 4); "=" is empty."""
    if args[1] == "=":
        return b""
    try:
        return b64decode(args[1].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        await server.push("501 5.5.2 Error: cannot decode base64")
        return None

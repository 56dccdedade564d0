"""SMTP AUTH (RFC 4954): PLAIN (RFC 4616) or LOGIN, whichever the server offers; with
SMTP_AUTH=oauth2, OAUTHBEARER (RFC 7628) or XOAUTH2 (Google's and Microsoft's).

PLAIN is preferred; LOGIN exists for Office 365, which offers only LOGIN (Mattermost
added it for that reason, mattermost/mattermost#8140). Some servers list PLAIN and then
answer it with "504 5.5.4 Unrecognized authentication type" (or a 535 saying so); then
LOGIN is tried if offered. Credentials are never sent over an unencrypted connection
unless the peer is loopback, as Go's net/smtp.PlainAuth decides.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable
from typing import Final, Protocol

from postwarden.core.secrets import MASK, Secret
from postwarden.core.smtp.errors import (
    AuthEncryptionRequired,
    AuthRejected,
    AuthUnavailable,
    PlaintextAuthRefused,
    TokenRejected,
    error_for_reply,
)
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

#: what we speak, in order of preference
MECHANISMS: Final = ("PLAIN", "LOGIN")
#: with an OAuth2 token: the standard one first; Exchange Online offers only XOAUTH2
BEARER_MECHANISMS: Final = ("OAUTHBEARER", "XOAUTH2")


class Conversation(Protocol):
    async def exchange(
        self, line: bytes, *, shown: str | None, stage: SmtpStage, challenge_secret: bool = True
    ) -> Reply:
        """Send ``line`` (with CRLF) and return the reply. The transcript shows ``shown``,
        or a mask when it is None; a 334 challenge is masked too unless ``challenge_secret``
        is False."""
        ...


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_can_authenticate(
    extensions: dict[str, str],
    *,
    encrypted: bool,
    peer_ip: str,
    loopback: Callable[[str], bool] = is_loopback,
    bearer: bool = False,
) -> list[str]:
    """The mechanisms to try, in order. Raises, at the AUTH stage:

    * :class:`AuthEncryptionRequired` -- no AUTH offered, but STARTTLS is (servers such
      as Postfix with ``smtpd_tls_auth_only`` offer AUTH only after STARTTLS);
    * :class:`AuthUnavailable` -- no AUTH offered at all, or no mechanism in common;
    * :class:`PlaintextAuthRefused` -- the connection is not encrypted and the peer is
      not loopback: the credentials would cross the network in clear.
    """
    if "AUTH" not in extensions:
        if "STARTTLS" in extensions and not encrypted:
            raise AuthEncryptionRequired(
                SmtpStage.AUTH,
                detail="the server offers AUTH only after STARTTLS, which this connection did not use",
            )
        raise AuthUnavailable(SmtpStage.AUTH, detail="the server offers no AUTH")
    if not encrypted and not loopback(peer_ip):
        raise PlaintextAuthRefused(
            SmtpStage.AUTH,
            detail=f"the connection to {peer_ip} is not encrypted and not loopback; "
            "use security starttls or ssl",
        )
    offered = extensions["AUTH"].upper().split()
    speaks = BEARER_MECHANISMS if bearer else MECHANISMS
    usable: list[str] = [m for m in speaks if m in offered]
    if not usable:
        how = " with an OAuth2 token (SMTP_AUTH=oauth2)" if bearer else ""
        raise AuthUnavailable(
            SmtpStage.AUTH,
            detail=f"no mechanism in common: the server offers {' '.join(offered) or 'none'}, "
            f"Postwarden speaks {' '.join(speaks)}{how}",
        )
    return usable


def _unrecognized(reply: Reply) -> bool:
    return reply.code == 504 or (
        reply.code == 535 and "unrecognized authentication type" in reply.text.lower()
    )


async def authenticate(conv: Conversation, mechanisms: list[str], user: str, password: Secret) -> str:
    """Run the exchange; return the mechanism that succeeded.

    Raises the error :func:`error_for_reply` gives for the last refusal at AUTH
    (:class:`AuthRejected` for 535, :class:`AuthEncryptionRequired` for 538 …).
    """
    reply: Reply | None = None
    for index, mechanism in enumerate(mechanisms):
        if mechanism == "PLAIN":
            reply = await _plain(conv, user, password)
        else:
            reply = await _login(conv, user, password)
        if reply.code == 235:
            return mechanism
        if not (_unrecognized(reply) and index + 1 < len(mechanisms)):
            break
    assert reply is not None
    raise error_for_reply(SmtpStage.AUTH, reply)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


async def _plain(conv: Conversation, user: str, password: Secret) -> Reply:
    token = _b64(b"\0" + user.encode() + b"\0" + password.reveal().encode())
    reply = await conv.exchange(
        b"AUTH PLAIN " + token + b"\r\n", shown=f"AUTH PLAIN {MASK}", stage=SmtpStage.AUTH
    )
    if reply.code == 334:  # the server ignored the initial response and asks for it
        reply = await conv.exchange(token + b"\r\n", shown=None, stage=SmtpStage.AUTH)
    return reply


async def _login(conv: Conversation, user: str, password: Secret) -> Reply:
    reply = await conv.exchange(b"AUTH LOGIN\r\n", shown="AUTH LOGIN", stage=SmtpStage.AUTH)
    if reply.code == 334:
        reply = await conv.exchange(_b64(user.encode()) + b"\r\n", shown=None, stage=SmtpStage.AUTH)
    if reply.code == 334:
        reply = await conv.exchange(
            _b64(password.reveal().encode()) + b"\r\n", shown=None, stage=SmtpStage.AUTH
        )
    return reply


async def bearer(
    conv: Conversation, mechanism: str, user: str, token: Secret, *, host: str, port: int
) -> str | None:
    """Sign in with an OAuth2 access token; return the server's decoded error challenge
    when it sent one and then accepted (it never does), else None.

    Raises :class:`AuthRejected` (or what :func:`error_for_reply` gives) when refused; a
    server that explains itself first (a 334 with base64 JSON such as Gmail's
    ``{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}``) has that
    JSON decoded into the error's detail.
    """
    if mechanism == "XOAUTH2":
        payload = f"user={user}\x01auth=Bearer {token.reveal()}\x01\x01"
        cancel = b"\r\n"  # Google's and Microsoft's XOAUTH2: an empty response ends it
    else:
        payload = (
            f"n,a={_saslname(user)},\x01host={host}\x01port={port}\x01auth=Bearer {token.reveal()}\x01\x01"
        )
        cancel = b"AQ==\r\n"  # RFC 7628 3.2.3: a single ^A acknowledges the error
    reply = await conv.exchange(
        b"AUTH " + mechanism.encode() + b" " + _b64(payload.encode()) + b"\r\n",
        shown=f"AUTH {mechanism} {MASK}",
        stage=SmtpStage.AUTH,
        challenge_secret=False,
    )
    challenge = None
    if reply.code == 334:
        challenge = decode_challenge(reply.text)
        shown = "" if mechanism == "XOAUTH2" else "AQ=="
        reply = await conv.exchange(cancel, shown=shown, stage=SmtpStage.AUTH)
    if reply.code == 235:
        return challenge
    error = error_for_reply(SmtpStage.AUTH, reply)
    if not isinstance(error, AuthRejected):
        raise error  # 538, 504 …: not about the token
    explained = f" (the server's error: {challenge})" if challenge else ""
    raise TokenRejected(SmtpStage.AUTH, reply=reply, detail=f"{reply}{explained}")


def _saslname(user: str) -> str:
    # RFC 5801 4: "," and "=" are escaped in the authorization identity
    return user.replace("=", "=3D").replace(",", "=2C")


def decode_challenge(text: str) -> str:
    """The JSON of an OAuth2 error challenge (RFC 7628 3.2.2), compact, or the text as
    it came when it is not base64 JSON."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return text.strip()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def secrets_in(line: bytes) -> tuple[str, ...]:
    """What of a credentials line the client sent a server might quote back in its reply:
    the base64 as sent, and the password or token inside it (PLAIN's last field, the
    ``auth=Bearer`` value of XOAUTH2 and OAUTHBEARER, a LOGIN line's whole content).
    Servers that quote the AUTH line in their refusal exist; its words are stored and
    shown, so the connection masks these in the replies that follow the line."""
    token = line.decode("ascii", "replace").strip().rsplit(" ", 1)[-1]
    if len(token) < 4:
        return ()
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return (token,)
    if "\x01" in decoded:  # XOAUTH2, OAUTHBEARER
        fields = [
            f.removeprefix("auth=").removeprefix("Bearer ")
            for f in decoded.split("\x01")
            if f.startswith("auth=")
        ]
    else:  # PLAIN's authzid NUL authcid NUL password, or a LOGIN line
        fields = [decoded.rsplit("\0", 1)[-1]]
    return (token, *(f for f in fields if len(f) >= 4))

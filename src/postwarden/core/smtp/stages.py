"""The steps of an SMTP session, in the order they happen."""

from __future__ import annotations

import enum


class SmtpStage(enum.StrEnum):
    RESOLVE = "resolve"  # the host name to addresses
    CONNECT = "connect"  # TCP connect
    TLS = "tls"  # implicit TLS handshake (security=ssl)
    GREETING = "greeting"  # the server's 220 banner
    EHLO = "ehlo"  # EHLO (and HELO fallback), before and after STARTTLS
    STARTTLS = "starttls"  # the STARTTLS command and its handshake
    TOKEN = "token"  # noqa: S105 - an OAuth2 access token from the identity platform (SMTP_AUTH=oauth2)
    AUTH = "auth"
    MAIL = "mail"  # MAIL FROM
    RCPT = "rcpt"  # RCPT TO
    DATA = "data"  # DATA, the content and the final reply
    RSET = "rset"
    NOOP = "noop"
    QUIT = "quit"


#: where each session stage falls in the doctor's pipeline (docs/spec/doctor.md)
DOCTOR_STAGE: dict[SmtpStage, str] = {
    SmtpStage.RESOLVE: "network",
    SmtpStage.CONNECT: "network",
    SmtpStage.TLS: "tls",
    SmtpStage.GREETING: "network",
    SmtpStage.EHLO: "network",
    SmtpStage.STARTTLS: "tls",
    SmtpStage.TOKEN: "auth",
    SmtpStage.AUTH: "auth",
    SmtpStage.MAIL: "envelope",
    SmtpStage.RCPT: "envelope",
    SmtpStage.DATA: "envelope",
    SmtpStage.RSET: "envelope",
    SmtpStage.NOOP: "network",
    SmtpStage.QUIT: "network",
}

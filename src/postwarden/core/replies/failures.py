"""The sibling table of :mod:`postwarden.core.replies.rules`: failures without a reply.

DNS errors, refused or silent sockets, foreign banners, TLS library errors and
client-side refusals reach users as exception text from Python, Java, Go, Ruby or
Node ("Name or service not known", "dial tcp …: i/o timeout", "x509: certificate
signed by unknown authority", "javax.net.ssl.SSLException: Unsupported or unrecognized
SSL message"). The rules have the same shape and the same ranking as the reply
rules; the session stage and the port sharpen the advice.
"""

from __future__ import annotations

from typing import Final

from postwarden.core.codes import Code as C
from postwarden.core.i18n import Text
from postwarden.core.replies.rule import Rule, rule
from postwarden.core.smtp.stages import SmtpStage as S

_TIMEOUT = (
    r"timed? ?out|timeout|execution expired|ETIMEDOUT|errno 110\b|errno 60\b|WinError 10060|deadline exceeded"
    r"|took too long|did not (?:respond|answer)|not responding"
    # our own session's wording ("no connection within 5 s", "no reply within 20 s")
    r"|\bno (?:connection|reply|response|answer|greeting|progress sending) within\b"
)
_CLOSED = (
    r"connection (?:was )?(?:unexpectedly )?closed|closed (?:the )?connection|Server disconnected"
    r"|disconnected"
    r"|\bEOF\b|unexpected eof|Connection reset|ECONNRESET|reset by peer|broken pipe|EPIPE|connection aborted"
    r"|Connection lost|remote (?:host|end|side) closed|errno 104\b|errno 32\b|socket closed|not connected"
)
_PLAIN_PORTS = (25, 587, 2525)
_CONNECTING = frozenset({S.RESOLVE, S.CONNECT, None})
_IN_SESSION = frozenset({S.EHLO, S.AUTH, S.MAIL, S.RCPT, S.DATA, S.RSET, S.NOOP, S.QUIT, None})
_TLS = frozenset({S.TLS, S.STARTTLS})

_MODE_MISMATCH_STEPS = (
    Text(
        "Port {port} speaks plain SMTP first and upgrades with STARTTLS: set SMTP_SECURITY=starttls, not ssl."
    ),
    Text("For implicit TLS (ssl), use port 465."),
)
_SMTPUTF8_STEPS = (
    Text(
        "Use an ASCII address: a non-ASCII domain works everywhere in its xn-- (IDNA) form; a "
        "non-ASCII local part needs a server that offers SMTPUTF8 (RFC 6531)."
    ),
)
_WRONG_PROTOCOL = (
    Text("Use the SMTP submission port: 587 with SMTP_SECURITY=starttls or 465 with ssl."),
    Text(
        "Ask the mail provider for its SMTP (outgoing) server settings; the reading side "
        "(IMAP 143/993, POP3 110/995) cannot send."
    ),
)

FAILURES: Final[tuple[Rule, ...]] = (
    # -- something other than SMTP answered ---------------------------------------
    rule(
        "banner.imap",
        C.NETWORK_NO_GREETING,
        text=r"\* OK\b|\bIMAP4|Dovecot ready|Courier-IMAP|\bIMAP\b",
        title=Text("This port speaks IMAP, not SMTP"),
        steps=_WRONG_PROTOCOL,
        explanation=Text(
            "The server greeted with an IMAP banner: this port is for reading mail, not for sending it."
        ),
    ),
    rule(
        "banner.pop",
        C.NETWORK_NO_GREETING,
        text=r"^\s*\+OK\b|\bPOP3\b",
        title=Text("This port speaks POP3, not SMTP"),
        steps=_WRONG_PROTOCOL,
        explanation=Text(
            "The server greeted with a POP3 banner: this port is for reading mail, not for sending it."
        ),
    ),
    rule(
        "banner.http",
        C.NETWORK_NO_GREETING,
        text=r"\bHTTP/\d|<html|<!DOCTYPE",
        title=Text("This port speaks HTTP, not SMTP"),
        steps=_WRONG_PROTOCOL,
        explanation=Text(
            "A web server answered: SMTP_HOST and SMTP_PORT point at a website or an API, "
            "not at an SMTP server."
        ),
    ),
    rule(
        "banner.ssh",
        C.NETWORK_NO_GREETING,
        text=r"\bSSH-\d\.\d",
        title=Text("This port speaks SSH, not SMTP"),
        steps=_WRONG_PROTOCOL,
    ),
    # -- certificates: the host name first, since Python reports it as a verify failure
    rule(
        "tls.hostname",
        C.TLS_HOSTNAME_MISMATCH,
        text=r"hostname mismatch|IP address mismatch|hostname .{0,80}(?:doesn't|does not) match"
        r"|doesn't match (?:either of )?'"
        r"|(?:does not|doesn't) match (?:the )?(?:server |peer )?certificate"
        r"|certificate is (?:only )?valid for .{0,200}, not"
        r"|not valid for\b|wanted to match|No subject alternative (?:DNS )?names?|No name matching|altnames"
        r"|ERR_TLS_CERT_ALTNAME",
    ),
    rule(
        "tls.expired",
        C.TLS_CERTIFICATE_UNTRUSTED,
        text=r"certificate (?:has )?expired|CERT_HAS_EXPIRED|expired certificate|not yet valid"
        r"|validity check failed",
        title=Text("The server's certificate has expired (or is not valid yet)"),
        steps=(
            Text("The server's operator must renew the certificate."),
            Text("If the certificate looks valid, check this machine's clock (`date`)."),
        ),
    ),
    rule(
        "tls.empty_trust_store",
        C.TLS_CERTIFICATE_UNTRUSTED,
        text=r"trustAnchors parameter must be non-?empty|no trusted (?:CA )?certificates|empty trust ?store",
        title=Text("This machine trusts no certificate authority at all"),
        explanation=Text(
            "The client's list of trusted authorities is empty, so no certificate can be "
            "verified. This is a problem of this machine or container, not of the server."
        ),
        steps=(
            Text("Install the CA bundle (Debian/Ubuntu: ca-certificates; for Java, its cacerts file)."),
            Text(
                "In Docker, do not mount an empty or host-specific directory over /etc/ssl or the "
                "Java cacerts."
            ),
        ),
    ),
    rule(
        "tls.self_signed",
        C.TLS_CERTIFICATE_UNTRUSTED,
        text=r"self[- ]signed|SELF_SIGNED",
        title=Text("The server's certificate is self-signed"),
        steps=(
            Text("Use a certificate from a public authority on the server (e.g. Let's Encrypt)."),
            Text(
                "For a local bridge with its own certificate (Proton Mail Bridge, a test server), "
                "export that certificate and add it to this machine's trust store or SSL_CERT_FILE."
            ),
        ),
    ),
    rule(
        "tls.chain_too_long",
        C.TLS_HANDSHAKE_FAILED,
        text=r"chain length .{0,20}exceeds|chain (?:is )?too long",
        title=Text("The server sends a certificate chain that is too long"),
        steps=(
            Text(
                "The server's operator should send only its certificate and the intermediates, "
                "not a bundle of every authority."
            ),
        ),
    ),
    rule(
        "tls.untrusted",
        C.TLS_CERTIFICATE_UNTRUSTED,
        text=r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|unable to get (?:local )?issuer"
        r"|unknown authority"
        r"|unknown ca\b|PKIX path|valid certification path|certificate (?:is )?not trusted|untrusted"
        r"|UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate|x509:|certificate revoked"
        r"|bad certificate|key too (?:small|weak)|md too weak",
    ),
    # -- TLS versus plain text ----------------------------------------------------------------
    rule(
        "tls.mode_mismatch.plain_port",
        C.TLS_HANDSHAKE_FAILED,
        ports=_PLAIN_PORTS,
        text=r"wrong version number|WRONG_VERSION_NUMBER|first record does not look like a TLS handshake"
        r"|Unsupported or unrecognized SSL message|unknown protocol|packet length too long"
        r"|record layer failure"
        r"|oversized record|not an? (?:SSL|TLS) (?:record|handshake)|plaintext connection|http request",
        title=Text("TLS was spoken to a port that speaks plain SMTP first"),
        steps=_MODE_MISMATCH_STEPS,
    ),
    rule(
        "tls.mode_mismatch",
        C.TLS_HANDSHAKE_FAILED,
        text=r"wrong version number|WRONG_VERSION_NUMBER|first record does not look like a TLS handshake"
        r"|Unsupported or unrecognized SSL message|unknown protocol|packet length too long"
        r"|record layer failure"
        r"|oversized record|not an? (?:SSL|TLS) (?:record|handshake)|plaintext connection|http request",
        title=Text("The security mode does not match the port (TLS spoken to plain SMTP, or the reverse)"),
    ),
    rule(
        "tls.no_common_protocol",
        C.TLS_HANDSHAKE_FAILED,
        text=r"no protocols available|No appropriate protocol|protocol (?:is )?disabled|unsupported protocol"
        r"|protocol version|no shared cipher|no ciphers? available|cipher suites? (?:are )?inappropriate"
        r"|insufficient security|dh key too small|inappropriate fallback|legacy renegotiation"
        r"|no cipher match",
        title=Text("The client and the server share no TLS version or cipher"),
        steps=(
            Text(
                "Old servers offer only TLS 1.0/1.1, which current clients refuse; old clients "
                "(JavaMail 1.4, "
                "Java 7) lack TLS 1.2. Upgrade whichever side is old rather than re-enabling TLS 1.0."
            ),
        ),
    ),
    rule(
        "tls.handshake_timeout",
        C.TLS_HANDSHAKE_FAILED,
        text=r"handshake (?:operation )?(?:timed out|timeout)",
        title=Text("The TLS handshake timed out"),
    ),
    rule(
        "tls.starttls_missing",
        C.TLS_STARTTLS_UNAVAILABLE,
        text=r"STARTTLS extension not (?:supported|found)|(?:doesn't|does not) support STARTTLS"
        r"|STARTTLS.{0,30}not "
        r"(?:supported|offered|advertised|available)|no STARTTLS"
        r"|(?:does not|doesn't) (?:list|offer|advertise) STARTTLS",
    ),
    rule(
        "tls.wrapped",
        C.TLS_HANDSHAKE_FAILED,
        text=r"Failed to open TLS connection|Could not convert socket to TLS|through TLS|SSLError"
        r"|SSLException"
        r"|SSLHandshakeException|SSLProtocolException|handshake failure|alert handshake|\btls:"
        r"|\bSSL\b.{0,30}(?:fail|error)"
        r"|\bTLS\b.{0,30}(?:fail|error)",
    ),
    # -- the client refused to go on ---------------------------------------------------------
    rule(
        "client.auth_after_starttls",
        C.AUTH_ENCRYPTION_REQUIRED,
        text=r"AUTH only (?:after|over|with) (?:STARTTLS|TLS)",
    ),
    rule(
        "client.size",
        C.ENVELOPE_MESSAGE_TOO_LARGE,
        text=r"accepts at most \d+|\(SIZE\)|exceeds? (?:the )?(?:server's )?SIZE|larger than the "
        "server accepts",
    ),
    rule(
        "client.smtputf8.rcpt",
        C.ENVELOPE_RECIPIENT_REJECTED,
        on=S.RCPT,
        text=r"SMTPUTF8",
        title=Text("The recipient address is not ASCII and the server does not offer SMTPUTF8"),
        steps=_SMTPUTF8_STEPS,
    ),
    rule(
        "client.smtputf8.headers",
        C.ENVELOPE_CONTENT_REJECTED,
        on=S.MAIL,
        text=r"header fields carry UTF-8 text",
        title=Text("The message's headers carry UTF-8 text and the server does not offer SMTPUTF8"),
        explanation=Text(
            "Header text that is not ASCII needs SMTPUTF8 (RFC 6531, 6532), which this server does "
            "not offer; the message was not sent rather than risk a refusal or garbled headers. Retrying the "
            "same server cannot help."
        ),
        steps=(
            Text(
                "Have the application encode non-ASCII header text as RFC 2047 encoded-words "
                "(=?utf-8?q?...?=), as most mail libraries do by default."
            ),
            Text(
                "Or send through a server that offers SMTPUTF8 (Gmail, Microsoft 365, Postfix with "
                "smtputf8_enable=yes)."
            ),
        ),
        permanent=True,
    ),
    rule(
        "client.smtputf8",
        C.ENVELOPE_SENDER_REJECTED,
        text=r"SMTPUTF8",
        title=Text("An address is not ASCII and the server does not offer SMTPUTF8"),
        steps=_SMTPUTF8_STEPS,
    ),
    rule(
        "client.unencrypted",
        C.CONFIG_AUTH_WITHOUT_TLS,
        text=r"unencrypted connection|insecure (?:connection|auth)|connection .{0,60}is not encrypted",
    ),
    rule(
        "client.no_auth",
        C.AUTH_UNAVAILABLE,
        text=r"AUTH extension not (?:supported|found)|(?:doesn't|does not) support AUTH"
        r"|AUTH (?:extension )?not "
        r"(?:supported|advertised|offered|available)|No suitable authentication method|No authentication "
        r"mechanisms? supported|no (?:supported|common) (?:authentication|auth) mechanism"
        r"|offers no AUTH|no mechanism in common",
    ),
    rule(
        "client.no_password",
        C.CONFIG_MISSING,
        text=r"no password specified|password (?:is )?(?:empty|missing|not set)|empty password"
        r"|missing credentials",
        title=Text("The password is empty"),
        steps=(Text("Set SMTP_PASSWORD, or clear SMTP_USER if the server needs no login."),),
    ),
    rule(
        "client.host_missing",
        C.CONFIG_MISSING,
        text=r"(?:SMTP )?host (?:is )?not (?:set|configured)|no SMTP host",
        title=Text("No SMTP host is set"),
        steps=(Text("Set SMTP_HOST (or EMAIL_PROVIDER and the provider's key)."),),
    ),
    rule(
        "client.auth_failed",
        C.AUTH_FAILED,
        text=r"AuthenticationFailedException|SMTPAuthenticationError|authentication failed"
        r"|Failed to authenticate"
        r"|auth(?:entication)? (?:error|unsuccessful)|invalid credentials|Wrong username or password",
    ),
    # -- name resolution and sockets ---------------------------------------------------------
    rule(
        "dns.unresolvable",
        C.NETWORK_DNS_UNRESOLVABLE,
        text=r"Name or service not known|nodename nor servname|NXDOMAIN|no such "
        "host|getaddrinfo|has no address"
        r"|name resolution"
        r"|No address associated with hostname|Unknown SMTP host|UnknownHostException|non-?existent domain"
        r"|(?:could not|couldn't|cannot|can't|unable to|failed to) resolve|Name does not resolve|ENOTFOUND"
        r"|EAI_(?:NONAME|AGAIN|NODATA)|Host not found|\blookup\b.{1,120}(?:server misbehaving|i/o timeout)"
        r"|SERVFAIL|errno -[235]\b",
    ),
    rule(
        "socket.refused",
        C.NETWORK_CONNECTION_REFUSED,
        text=r"connection refused|ECONNREFUSED|errno 111\b|errno 61\b|WinError 10061|actively refused"
        r"|refused (?:the |our )?connection",
    ),
    rule(
        "socket.unreachable",
        C.NETWORK_TIMEOUT,
        text=r"Network is unreachable|No route to host|EHOSTUNREACH|ENETUNREACH|Host is unreachable"
        r"|host unreachable"
        r"|errno 101\b|errno 113\b",
        title=Text("The network has no route to the server"),
        steps=(
            Text(
                "A firewall rejects the connection, or the host has no route to that network: test with "
                "`nc -vz {host} {port}` from this machine."
            ),
            Text(
                "If the host name has an IPv6 address and this machine has no IPv6, use a name or "
                "address that resolves to IPv4."
            ),
            Text("Try port 587 or 465, or an email provider's HTTPS API, if outbound SMTP is blocked."),
        ),
    ),
    rule(
        "greeting.missing",
        C.NETWORK_NO_GREETING,
        text=r"no (?:220 |SMTP )?greeting|greeting never received|did not (?:send|get) (?:a |the )?greeting",
    ),
    rule(
        "timeout.greeting.465",
        C.NETWORK_NO_GREETING,
        on=S.GREETING,
        ports=(465,),
        text=_TIMEOUT,
        title=Text("Port 465 expects TLS from the first byte, but the session started in plain text"),
        steps=(Text("Set SMTP_SECURITY=ssl for port 465 (or use port 587 with starttls)."),),
    ),
    rule("timeout.greeting", C.NETWORK_NO_GREETING, on=S.GREETING, text=_TIMEOUT),
    rule(
        "timeout.tls",
        C.TLS_HANDSHAKE_FAILED,
        on=_TLS,
        text=_TIMEOUT,
        title=Text("The TLS handshake timed out"),
    ),
    rule(
        "timeout.read",
        C.NETWORK_TIMEOUT,
        on=_IN_SESSION,
        text=r"read timed out|ReadTimeout|read timeout|Exception reading response"
        r"|timed? ?out (?:while )?(?:reading"
        r"|waiting for (?:a |the )?(?:response|reply|data))",
        title=Text("The server stopped answering in the middle of the session"),
        explanation=Text(
            "The connection was up, but a reply did not come within the timeout. Some "
            "servers answer slowly on purpose (Outlook/Office 365 delays replies)."
        ),
        steps=(
            Text("Raise SMTP_TIMEOUT (seconds; 30 or more for slow servers)."),
            Text(
                "If it keeps happening at the same step, the transcript shows which command the server left "
                "unanswered."
            ),
        ),
    ),
    rule(
        "timeout.connect.25",
        C.NETWORK_TIMEOUT,
        on=_CONNECTING,
        ports=(25,),
        text=_TIMEOUT,
        title=Text("Outbound port 25 looks blocked"),
        steps=(
            Text(
                "Most cloud and home providers (AWS, Google Cloud, Azure, DigitalOcean, …) block outbound "
                "port 25: use the mail provider's submission port 587 (SMTP_SECURITY=starttls) or 465 (ssl), "
                "or 2525 where offered."
            ),
            Text("Or send through an email provider's HTTPS API (EMAIL_PROVIDER=ses, postmark, …)."),
        ),
    ),
    rule("timeout.connect", C.NETWORK_TIMEOUT, on=_CONNECTING, text=_TIMEOUT),
    rule(
        "timeout.session",
        C.NETWORK_TIMEOUT,
        on=_IN_SESSION,
        text=_TIMEOUT,
        title=Text("The server stopped answering in the middle of the session"),
        steps=(Text("Raise SMTP_TIMEOUT (seconds; 30 or more for slow servers)."),),
    ),
    # -- the other side closed -----------------------------------------------------------------
    rule(
        "closed.tls",
        C.TLS_HANDSHAKE_FAILED,
        on=_TLS,
        text=_CLOSED,
        title=Text("The server closed the connection during the TLS handshake"),
    ),
    rule(
        "closed.greeting",
        C.NETWORK_SERVICE_REFUSED,
        on=S.GREETING,
        text=_CLOSED,
        title=Text("The server closed the connection without greeting"),
    ),
    rule("closed", C.NETWORK_SERVICE_REFUSED, text=_CLOSED, title=Text("The server closed the connection")),
    rule(
        "connect.failed",
        C.NETWORK_CONNECTION_REFUSED,
        text=r"Could(?: not|n't) connect|unable to connect|Failed to (?:open (?:a )?connection|connect)"
        r"|can't connect|cannot connect|connection failed|ConnectException",
        title=Text("Could not connect to the server"),
        explanation=Text(
            "The connection failed and the error does not say why; the usual reasons are "
            "a wrong port, a server that is down, or a firewall."
        ),
    ),
)

_QUOTE = Text("The error matches no known cause; it is quoted as evidence: {evidence}")

#: when the words say nothing: the stage decides
STAGE_FALLBACKS: Final[tuple[Rule, ...]] = (
    rule("fallback.resolve", C.NETWORK_DNS_UNRESOLVABLE, on=S.RESOLVE, explanation=_QUOTE),
    rule(
        "fallback.connect",
        C.NETWORK_CONNECTION_REFUSED,
        on=S.CONNECT,
        explanation=_QUOTE,
        title=Text("Could not connect to the server"),
    ),
    rule("fallback.greeting", C.NETWORK_NO_GREETING, on=S.GREETING, explanation=_QUOTE),
    rule(
        "fallback.session", C.NETWORK_SERVICE_REFUSED, on={S.EHLO, S.NOOP, S.QUIT, S.RSET}, explanation=_QUOTE
    ),
    rule("fallback.tls", C.TLS_HANDSHAKE_FAILED, on=_TLS, explanation=_QUOTE),
    rule("fallback.auth", C.AUTH_FAILED, on=S.AUTH, explanation=_QUOTE),
    rule("fallback.mail", C.ENVELOPE_SENDER_REJECTED, on=S.MAIL, explanation=_QUOTE),
    rule("fallback.rcpt", C.ENVELOPE_RECIPIENT_REJECTED, on=S.RCPT, explanation=_QUOTE),
    rule("fallback.data", C.ENVELOPE_CONTENT_REJECTED, on=S.DATA, explanation=_QUOTE),
)

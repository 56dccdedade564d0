"""What each finding code means and the generic steps that fix it.

A rule in :mod:`postwarden.core.replies.rules` names a code and may bring its own
title, explanation, steps and provider advice; whatever it leaves out comes from
here. Texts may use ``{host}`` and ``{port}``, filled in when known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from postwarden.core.codes import Code
from postwarden.core.i18n import Text


@dataclass(frozen=True, slots=True)
class Play:
    explanation: str
    steps: tuple[str, ...]


PLAYBOOK: Final[Mapping[Code, Play]] = {
    Code.CONFIG_MISSING: Play(
        Text("A setting the session needs is empty."),
        (Text("Set the missing value; `postwarden doctor --only config` lists what is missing."),),
    ),
    Code.CONFIG_AUTH_WITHOUT_TLS: Play(
        Text(
            "A username and password are set, but the connection is not encrypted, so the client "
            "refuses to send them (Go's SMTP client, and Postwarden, never send a password in clear)."
        ),
        (
            Text("Set SMTP_SECURITY=starttls (port 587) or ssl (port 465)."),
            Text("If the server is a relay that needs no login, clear SMTP_USER and SMTP_PASSWORD."),
        ),
    ),
    Code.NETWORK_DNS_UNRESOLVABLE: Play(
        Text(
            "The server's host name has no address in DNS, so there is nothing to connect to. Usually "
            "a typo in the host name; sometimes the resolver of this machine or container is broken."
        ),
        (
            Text(
                "Check SMTP_HOST for typos: the server's name only, without scheme or port "
                "(smtp.gmail.com, not smtp.google.com or smtp://…)."
            ),
            Text("Resolve it from the same machine or container: `getent hosts {host}`."),
            Text(
                "If it resolves elsewhere but not here, fix this machine's or container's DNS "
                "(/etc/resolv.conf, Docker's resolver), or ask another resolver with --dns-server."
            ),
        ),
    ),
    Code.NETWORK_CONNECTION_REFUSED: Play(
        Text(
            "The host answered, but nothing accepts connections on that port: the port is wrong, the "
            "mail server is not running, or a firewall rejects the connection."
        ),
        (
            Text(
                "Check SMTP_PORT: submission is 587 (starttls) or 465 (ssl); 25 is for server-to-server mail."
            ),
            Text(
                "Test from this machine: `nc -vz {host} {port}`. Inside a container, localhost is the "
                "container itself, not the machine that runs it."
            ),
            Text("Make sure the mail server runs and listens on that address and port."),
        ),
    ),
    Code.NETWORK_TIMEOUT: Play(
        Text(
            "No answer came before the timeout: packets are dropped on the way. Most often the hosting "
            "provider or a firewall blocks outbound SMTP ports."
        ),
        (
            Text(
                "Try port 587 (SMTP_SECURITY=starttls) or 465 (ssl); many email providers also "
                "listen on 2525."
            ),
            Text(
                "Ask the hosting provider whether outbound SMTP is blocked, or send through an email "
                "provider's HTTPS API (EMAIL_PROVIDER=ses, postmark, …), which no firewall blocks."
            ),
            Text("Check firewalls and cloud security groups for outbound rules."),
        ),
    ),
    Code.NETWORK_NO_GREETING: Play(
        Text(
            "The connection opened, but the server did not start the SMTP conversation with a 220 "
            "greeting. On port 465 this almost always means the server expects TLS from the first byte "
            "while the client waits in plain text."
        ),
        (
            Text("On port 465 set SMTP_SECURITY=ssl; on 587, 25 or 2525 use starttls."),
            Text("Check that the port is an SMTP port at all (not IMAP 143/993, POP3 110/995 or HTTP)."),
            Text("If the server is merely slow to greet, raise SMTP_TIMEOUT."),
        ),
    ),
    Code.NETWORK_SERVICE_REFUSED: Play(
        Text(
            "The server refused to start or continue the SMTP session: it answered with a refusal "
            "(421/554) or closed the connection. Its words usually name the reason: maintenance, too "
            "many connections, or a block on this client's IP address."
        ),
        (
            Text("Read the server's words quoted above; they name the reason."),
            Text(
                "If the server blocks this IP address (a blocklist, a residential range), send through "
                "your provider's submission server or an email provider's API."
            ),
            Text(
                "A 421 is temporary: Postwarden retries. If it persists, contact the server's administrator."
            ),
        ),
    ),
    Code.TLS_HANDSHAKE_FAILED: Play(
        Text(
            "The TLS handshake did not complete. 'wrong version number' or 'first record does not look "
            "like a TLS handshake' means one side spoke TLS and the other plain SMTP: the security mode "
            "does not match the port."
        ),
        (
            Text("Match the mode to the port: 465 → SMTP_SECURITY=ssl; 587, 25 or 2525 → starttls."),
            Text(
                "If the mode is right, the two sides share no TLS version or cipher: update the old side "
                "(TLS 1.2 or later is needed today)."
            ),
            Text(
                "Test by hand: `openssl s_client -connect {host}:465` (ssl) or "
                "`openssl s_client -starttls smtp -connect {host}:587` (starttls)."
            ),
        ),
    ),
    Code.TLS_CERTIFICATE_UNTRUSTED: Play(
        Text(
            "The server's certificate could not be verified: it is self-signed, expired, issued by an "
            "authority this machine does not trust, or this machine trusts no authority at all."
        ),
        (
            Text("Look at it: `openssl s_client -starttls smtp -connect {host}:{port} -showcerts`."),
            Text(
                "Expired or self-signed: the server's operator must install a valid certificate (e.g. Let's "
                "Encrypt)."
            ),
            Text(
                "Issued by a private CA: add that CA to this machine's trust store, or point SSL_CERT_FILE "
                "at a bundle that contains it."
            ),
            Text("In a container, install the CA bundle (Debian/Ubuntu: ca-certificates)."),
        ),
    ),
    Code.TLS_HOSTNAME_MISMATCH: Play(
        Text(
            "The certificate is valid, but for another name than the one connected to. Connecting by IP "
            "address or by an internal alias causes this."
        ),
        (
            Text("Set SMTP_HOST to a name the certificate lists (the error names them)."),
            Text("Do not connect by IP address when TLS is used."),
            Text("If the certificate itself names the wrong host, its operator must reissue it."),
        ),
    ),
    Code.TLS_STARTTLS_UNAVAILABLE: Play(
        Text(
            "STARTTLS is required, but the server did not offer it or refused the command, so the "
            "session cannot be encrypted."
        ),
        (
            Text(
                "Check the port: 465 expects implicit TLS (SMTP_SECURITY=ssl); STARTTLS lives on 587 or 25."
            ),
            Text("A 454 reply means the server's own TLS setup is broken: tell its operator."),
            Text(
                "If the server has no TLS at all, use another server: Postwarden does not send a password in "
                "clear."
            ),
        ),
    ),
    Code.AUTH_REQUIRED: Play(
        Text(
            "The server accepts mail only from authenticated clients, and this session did not authenticate."
        ),
        (
            Text("Set SMTP_USER and SMTP_PASSWORD to an account on this server."),
            Text("Use SMTP_SECURITY=starttls or ssl: servers offer AUTH only on encrypted connections."),
            Text(
                "If the server should trust this machine without a login (a relay), its administrator "
                "must allow this machine's IP address."
            ),
        ),
    ),
    Code.AUTH_UNAVAILABLE: Play(
        Text(
            "Credentials are set, but the server offers no authentication method this client can use "
            "on this connection, or none at all."
        ),
        (
            Text("Servers offer AUTH only after STARTTLS: use SMTP_SECURITY=starttls (587) or ssl (465)."),
            Text("Use the submission port (587/465): port 25 often offers no AUTH."),
            Text("If the server is a relay that trusts IP addresses, clear SMTP_USER and SMTP_PASSWORD."),
        ),
    ),
    Code.AUTH_ENCRYPTION_REQUIRED: Play(
        Text("The server refuses to authenticate, or to take mail, before the connection is encrypted."),
        (Text("Set SMTP_SECURITY=starttls (port 587) or ssl (port 465)."),),
    ),
    Code.AUTH_FAILED: Play(
        Text("The server rejected the username or password."),
        (
            Text("Check SMTP_USER and SMTP_PASSWORD; the user is usually the full email address."),
            Text(
                "Sign in to the account's webmail: a locked account or a required password change "
                "shows there."
            ),
            Text("With two-step verification, create an app password for SMTP and use it."),
            Text("Check that the provider allows SMTP sign-in for this account at all."),
        ),
    ),
    Code.AUTH_TOKEN_ENDPOINT_UNREACHABLE: Play(
        Text("No token: the identity platform's token endpoint did not answer."),
        (Text("Check that this machine reaches OAUTH2_AUTHORITY or OAUTH2_TOKEN_URL over HTTPS."),),
    ),
    Code.AUTH_TOKEN_INVALID_CLIENT: Play(
        Text("The identity platform refused the app's credentials (secret, certificate or key)."),
        (Text("Create a new client secret (or key) and set it; check OAUTH2_CLIENT_ID."),),
    ),
    Code.AUTH_TOKEN_APP_NOT_FOUND: Play(
        Text("The identity platform does not know this app in this tenant."),
        (Text("Check OAUTH2_CLIENT_ID and OAUTH2_TENANT_ID against the app registration."),),
    ),
    Code.AUTH_TOKEN_INVALID_GRANT: Play(
        Text(
            "The identity platform refused the grant: an expired or revoked refresh token, or a "
            "signed request outside its time window (this machine's clock)."
        ),
        (Text("Connect the account again; check this machine's clock."),),
    ),
    Code.AUTH_TOKEN_UNAUTHORIZED_CLIENT: Play(
        Text(
            "The app is not allowed to get this token (Google: domain-wide delegation; Microsoft: consent)."
        ),
        (Text("Allow the app the scope for the mailbox at the identity platform."),),
    ),
    Code.AUTH_TOKEN_REFUSED: Play(
        Text("A token was issued, but the SMTP server did not accept it for SMTP_USER."),
        (
            Text(
                "Allow the app (or the person) SMTP sign-in for the mailbox; check SMTP_USER and "
                "OAUTH2_SCOPE."
            ),
        ),
    ),
    Code.ENVELOPE_SENDER_REJECTED: Play(
        Text(
            "The server refused the sender address: this account may not send as that address, or the "
            "address or its domain failed the server's checks."
        ),
        (
            Text(
                "Set MAIL_FROM to the mailbox you log in as (SMTP_USER), or an alias that account "
                "may send as."
            ),
            Text("Make sure the From domain exists and has MX records: many servers verify the sender."),
            Text("With an email provider, verify the From address or its domain in the provider's console."),
        ),
    ),
    Code.ENVELOPE_RELAY_DENIED: Play(
        Text(
            "The server will not pass this mail on: this client may not relay through it (not "
            "authenticated, or not in its trusted networks), or it refuses this client's address or name."
        ),
        (
            Text("Authenticate: set SMTP_USER and SMTP_PASSWORD (relaying requires it on most servers)."),
            Text(
                "If the server relays by IP address (Postfix mynetworks, Exchange receive connectors), "
                "allow this machine's address; from Docker, that is the container network's address."
            ),
            Text("Use the submission port 587 with authentication rather than port 25."),
        ),
    ),
    Code.ENVELOPE_RECIPIENT_REJECTED: Play(
        Text(
            "The server refused the recipient: the mailbox does not exist, is disabled or cannot "
            "take mail now."
        ),
        (
            Text("Check the recipient address for typos."),
            Text("Ask the recipient whether the address works, or send from another account to compare."),
            Text("Postwarden suppresses addresses that keep bouncing, to protect the sending reputation."),
        ),
    ),
    Code.ENVELOPE_GREYLISTED: Play(
        Text(
            "The server deferred the mail on purpose: greylisting refuses the first attempt from an "
            "unknown sender and accepts a retry some minutes later. Nothing is broken."
        ),
        (
            Text("Nothing to do: Postwarden retries automatically."),
            Text(
                "If retries keep failing, make sure they leave from the same IP address with the same sender."
            ),
        ),
    ),
    Code.ENVELOPE_RATE_LIMITED: Play(
        Text(
            "The server or provider limits how much this account or IP address may send "
            "(connections at once, messages per minute or per day)."
        ),
        (
            Text("Temporary limits (4xx) clear by themselves; Postwarden retries later."),
            Text("Lower the sending rate or concurrency, and spread bulk sends over time."),
            Text(
                "For a daily quota, wait for it to reset or ask for a higher limit; an email provider "
                "allows far more than a personal mailbox."
            ),
        ),
    ),
    Code.ENVELOPE_MESSAGE_TOO_LARGE: Play(
        Text("The message is larger than the server accepts."),
        (
            Text("Send large files as links instead of attachments."),
            Text(
                "Keep messages under the server's SIZE (EHLO announces it; base64 makes attachments a third "
                "larger)."
            ),
        ),
    ),
    Code.ENVELOPE_CONTENT_REJECTED: Play(
        Text(
            "The server took the envelope but refused the message itself: its filters judged it spam, "
            "dangerous or against policy."
        ),
        (
            Text("Read the server's words above; they often link to the reason."),
            Text(
                "Send with a From address of the account you send through (mailbox providers call a "
                "foreign From spam), and publish SPF, DKIM and DMARC for the From domain."
            ),
            Text("Check the content: links to blocklisted domains, URL shorteners, executable attachments."),
            Text("Check the sending IP address and domain on blocklists."),
        ),
    ),
    Code.PROVIDER_INVALID_CREDENTIALS: Play(
        Text("The provider rejected the API key or token."),
        (Text("Create a new key with sending permission in the provider's console and set it."),),
    ),
    Code.PROVIDER_SANDBOX: Play(
        Text("The provider account is in sandbox (test) mode: it sends only to verified addresses."),
        (
            Text("To test, verify the recipient in the provider's console."),
            Text("To send to anyone, request production access from the provider."),
        ),
    ),
    Code.PROVIDER_SENDER_UNVERIFIED: Play(
        Text(
            "The provider does not allow this From address: the address or its domain is not verified "
            "on the account."
        ),
        (
            Text(
                "Verify the From address, or better its whole domain (DKIM and SPF records), in the "
                "provider's "
                "console."
            ),
            Text("Set MAIL_FROM to an address on a verified domain."),
        ),
    ),
    Code.PROVIDER_ACCOUNT_SUSPENDED: Play(
        Text(
            "The provider refuses to send for this account: it is paused, suspended, under review or out of "
            "credit."
        ),
        (
            Text("Sign in to the provider's console: it says why and what to do."),
            Text("Pauses follow high bounce or complaint rates: clean the recipient list before resuming."),
        ),
    ),
    Code.DNS_SPF_INVALID: Play(
        Text(
            "The receiving server could not evaluate the sender domain's SPF record: it is malformed, "
            "duplicated or needs more than 10 DNS lookups."
        ),
        (
            Text("Publish exactly one TXT record starting with v=spf1, within 10 lookups."),
            Text("Run `postwarden doctor` to see the record and what is wrong with it."),
        ),
    ),
    Code.DNS_SPF_NOT_AUTHORIZING: Play(
        Text(
            "The receiving server checked SPF and the sending server's IP address is not authorized by "
            "the sender domain."
        ),
        (
            Text(
                "Add the server or provider to the SPF record of the envelope sender's domain "
                "(e.g. include:amazonses.com, include:_spf.google.com)."
            ),
            Text("Run `postwarden doctor` to see the SPF record and what it authorizes."),
        ),
    ),
    Code.DNS_DKIM_MISSING: Play(
        Text("The receiving server found no valid DKIM signature."),
        (
            Text(
                "Sign outgoing mail with DKIM (DKIM_SELECTOR and DKIM_PRIVATE_KEY, or the provider's DKIM "
                "setup) and publish the public key at <selector>._domainkey.<domain>."
            ),
        ),
    ),
    Code.DNS_DKIM_MISMATCH: Play(
        Text("A DKIM signature was present but did not verify."),
        (
            Text(
                "Publish the public key that belongs to the signing key (`postwarden doctor` compares them)."
            ),
            Text("Make sure nothing alters the message after signing (footers added by a relay)."),
        ),
    ),
    Code.DNS_DMARC_MISALIGNED: Play(
        Text(
            "The receiving server applied the From domain's DMARC policy: neither SPF nor DKIM passed "
            "for a domain aligned with the From address, so the mail was refused."
        ),
        (
            Text("Sign with DKIM with d= the From domain (or its parent domain)."),
            Text(
                "Authorize the sending server in the SPF record of the envelope sender's domain, and make "
                "that domain match the From domain."
            ),
            Text(
                "Never send with a From at gmail.com, outlook.com or yahoo.com through another server: "
                "their DMARC policy rejects it."
            ),
            Text("Run `postwarden doctor` to check SPF, DKIM and DMARC for the From domain."),
        ),
    ),
    Code.DNS_RECIPIENT_NO_MX: Play(
        Text(
            "The recipient's domain accepts no mail: it has no MX (or address) record, or publishes "
            "a null MX."
        ),
        (Text("Check the recipient's domain for typos; `dig MX <domain>` shows whether it accepts mail."),),
    ),
}


def play(code: Code | None) -> Play:
    """The generic text for ``code``; an empty play for codes without one."""
    return PLAYBOOK.get(code, _EMPTY) if code is not None else _EMPTY


_EMPTY: Final = Play("", ())

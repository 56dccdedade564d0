"""Try OAuth2 sign-in by hand, with no Microsoft or Google account: a local identity server
(tests/oauthd.py) and an SMTP server that judges tokens as Exchange Online does, both on
loopback with a throwaway CA, until Ctrl-C::

    .venv/bin/python -m tests.oauthlab [--lifetime SECONDS]

It prints the settings to export (the Microsoft 365 OAuth2 settings, pointed at the local
identity server through OAUTH2_AUTHORITY) and the trusted CA for SSL_CERT_FILE.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import tempfile
import threading
from pathlib import Path

import trustme

from tests.oauthd import BearerCheck, IdentityServer
from tests.smtpd import SmtpdOptions, SmtpServer

TENANT = "contoso.onmicrosoft.test"
MAILBOX = "alerts@contoso.test"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lifetime", type=int, default=3599, help="seconds a token lives (default 3599)")
    args = parser.parse_args()
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file = Path(tempfile.mkdtemp(prefix="oauthlab-")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    identity = IdentityServer(cert).start()
    identity.lifetime = args.lifetime
    secret = "lab-" + secrets.token_urlsafe(18)
    app = identity.register_app(TENANT, secret=secret)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    options = SmtpdOptions(tls="starttls", cert=cert, bearer=check, auth_mechanisms=("XOAUTH2",))
    smtp = SmtpServer(options).start()
    print(
        "\n".join(
            [
                f"# identity server {identity.url} (tenant {TENANT}), SMTP server 127.0.0.1:{smtp.port}",
                f"export SSL_CERT_FILE={ca_file}",
                f"export SMTP_HOST=127.0.0.1 SMTP_PORT={smtp.port} SMTP_SECURITY=starttls",
                f"export SMTP_AUTH=oauth2 OAUTH2_PROVIDER=microsoft OAUTH2_AUTHORITY={identity.url}",
                f"export OAUTH2_TENANT_ID={TENANT} OAUTH2_CLIENT_ID={app.client_id}",
                f"export OAUTH2_CLIENT_SECRET={secret}",
                f"export SMTP_USER={MAILBOX} MAIL_FROM={MAILBOX}",
            ]
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        smtp.stop()
        identity.stop()
        print(f"# {len(identity.issued)} tokens issued; AUTH attempts: {check.attempts}", flush=True)


if __name__ == "__main__":
    main()

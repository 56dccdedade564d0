"""``postwarden oauth2 connect`` for a Google mailbox, as a person on a headless machine
runs it (real subprocesses on a migrated install, against the local identity server):
the sign-in URL printed, the address pasted back, the refresh token saved; then two
``postwarden send-test`` runs, each a fresh process, sign in over XOAUTH2 while the
platform rotates the refresh token at every use (each run needs the one the previous
run saved)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.cli.test_doctor_db import doctor_env, postwarden
from tests.oauthd import BearerCheck, IdentityServer
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ssl_cert_file")]
MAILBOX = "person@gmail.test"
CLIENT_SECRET = "GOCSPX-process-test-client-secret"


def test_a_google_mailbox_connected_on_the_command_line_keeps_sending_across_restarts(
    tmp_path: Path, identity: IdentityServer, smtpd_factory: Callable[..., SmtpServer]
) -> None:
    identity.user = MAILBOX
    identity.rotate_refresh_tokens = True
    app = identity.register_app("google", secret=CLIENT_SECRET)
    check = BearerCheck(identity, "gmail")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    env = {k: v for k, v in doctor_env(tmp_path).items() if not k.startswith("OAUTH2_")}
    env.update(
        SMTP_HOST="localhost",
        SMTP_PORT=str(server.port),
        SMTP_SECURITY="starttls",
        SMTP_USER=MAILBOX,
        MAIL_FROM=MAILBOX,
        SMTP_AUTH="oauth2",
        OAUTH2_PROVIDER="google",
        OAUTH2_CLIENT_ID=app.client_id,
        OAUTH2_CLIENT_SECRET=CLIENT_SECRET,
        OAUTH2_AUTHORIZATION_URL=f"{identity.url}/google/auth",
        OAUTH2_TOKEN_URL=f"{identity.url}/google/token",
    )
    assert postwarden(["migrate"], env, tmp_path).returncode == 0

    connect = subprocess.Popen(
        [sys.executable, "-m", "postwarden", "oauth2", "connect"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert connect.stdout is not None
    printed = [connect.stdout.readline() for _ in range(3)]  # the prompt, the URL, where to paste
    url = printed[1].strip()
    back = requests.get(url, allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"])
    out, err = connect.communicate(back.headers["Location"] + "\n", timeout=120)
    sends = [postwarden(["send-test", "--to", "bob@example.com"], env, tmp_path) for _ in range(2)]

    assert connect.returncode == 0, err
    assert printed[0].startswith(f"Open this address in a browser on any device and sign in as {MAILBOX}")
    assert url.startswith(f"{identity.url}/google/auth?")
    assert out.strip().startswith("Connected. The refresh token is saved (sealed) as OAUTH2_REFRESH_TOKEN")
    for send in sends:
        assert send.returncode == 0, send.stdout + send.stderr
        assert "C: AUTH XOAUTH2 ••••" in send.stdout + send.stderr
    assert check.attempts == [(MAILBOX, "ok")] * 2
    assert [kind for kind, _, _ in identity.issued] == ["authorization_code"] + ["refresh_token"] * 3
    everything = "".join(printed) + out + err + "".join(s.stdout + s.stderr for s in sends)
    for refresh in identity.grants:
        assert refresh not in everything
    assert CLIENT_SECRET not in everything

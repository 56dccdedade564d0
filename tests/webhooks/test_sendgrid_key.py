"""SENDGRID_WEBHOOK_VERIFICATION_KEY must be a public key: the resolver refuses anything else
(core/config/parse.py), so ``postwarden web`` will not start with it and the doctor names it,
instead of the first SendGrid webhook failing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postwarden.core.config.resolve import ConfigError, resolve_environment
from tests.webhooks.test_sendgrid import PRIVATE, PUBLIC_B64

NAME = "SENDGRID_WEBHOOK_VERIFICATION_KEY"
RSA_PUBLIC = base64.b64encode(
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
PEM = (
    PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def resolved(value: str) -> object:
    return resolve_environment(environ={NAME: value}, dotenv=None)


@pytest.mark.parametrize(
    "value",
    [
        "not-a-key",
        "Zm9vYmFy",
        PUBLIC_B64[:-8],
        RSA_PUBLIC,
        "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
    ],
    ids=["words", "base64-of-text", "truncated", "rsa-key", "armoured-junk"],
)
def test_the_resolver_refuses_what_is_not_an_elliptic_curve_public_key(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resolved(value)
    [problem] = refused.value.problems
    assert problem.variable == NAME
    assert problem.message.startswith(f"{NAME} is not a public key: paste the verification key")
    assert value not in str(refused.value)  # a secret's value is never quoted


@pytest.mark.parametrize("value", [PUBLIC_B64, PEM, f"  {PUBLIC_B64}\n"], ids=["as-shown", "pem", "spaces"])
def test_the_resolver_takes_the_key_as_sendgrid_shows_it(value: str) -> None:
    settings = resolve_environment(environ={NAME: value}, dotenv=None)
    assert settings.webhooks.sendgrid_verification_key.reveal() == PUBLIC_B64


def run(command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))
    }
    environ.update(POSTWARDEN_DATA_DIR=str(tmp_path / "data"), **{NAME: "Sg8vErKy3-not-a-public-key"})
    return subprocess.run(
        [sys.executable, "-m", "postwarden", command],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("command", "status"), [("web", 2), ("doctor", 2)])
def test_a_bad_key_in_the_environment_stops_start_up_with_one_clear_message(
    tmp_path: Path, command: str, status: int
) -> None:
    done = run(command, tmp_path)
    assert done.returncode == status
    line = " ".join(done.stderr.split())  # the doctor lists problems one a line, web in one line
    assert line.startswith(f"postwarden {command}: Postwarden cannot use these settings: - ")
    assert f"{NAME} (environment): {NAME} is not a public key: paste the verification key SendGrid" in line
    assert "Traceback" not in done.stderr
    assert "Sg8vErKy3" not in done.stderr + done.stdout

"""The secrets sweep of issue #8, for the commands and the long-running processes: the
same distinctive secrets (tests/security/leaks.py) in the environment and in the settings
store of a throwaway data directory, then every ``postwarden`` command as a subprocess
(migrate, createadmin, apikey create/list/revoke, doctor and doctor --json with and without
--send, explain, send-test, dkim generate, manage check), and ``postwarden serve`` (web,
worker and relay) taking a wrong and a right log-in, API calls with a right and a guessed
key, and SMTP submissions with a right and a guessed key, its worker failing to log in to
an SMTP server that REFUSES the password. No output of any process and no log file in the
data directory may hold a secret in any recognisable form."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from postwarden.core.config.variables import VARIABLES
from tests.dnsd import DnsTestServer
from tests.outbox.procs import wait_for
from tests.ports import free_port
from tests.processes import stop_group
from tests.reliability.figures import report
from tests.security.leaks import (
    ENVIRONMENT,
    SMTP_USER,
    STORED,
    WRONG_PASSWORD,
    Secret,
    dkim_key,
    seeded,
    sweep,
)
from tests.security.leaks import forms as recognisable
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.slow
ADMIN = "admin@example.com"
#: the password of a second console user, given on createadmin's standard input
SECOND_PASSWORD = "Cr2aDmIn7-second-admin-password-do-not-leak"
#: a key someone guesses: the right shape, a prefix that exists nowhere
GUESSED_KEY = "pw_0badc0de_Gs3kEyGu8-guessed-api-key-do-not-leak"
START_TIMEOUT = 60.0
#: the settings store's contents, saved by ``postwarden manage shell`` in the data directory
SEED = """
import json, os
from postwarden.configstore.runtime import save
save(json.loads(os.environ["PW_SEED"]))
"""


@dataclass
class Place:
    """A data directory and the environment every process of the sweep runs in."""

    data: Path
    env: dict[str, str]
    outputs: dict[str, str]

    def run(self, label: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "postwarden", *args],
            env=self.env,
            cwd=self.data,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.outputs[label] = f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture
def place(tmp_path: Path, smtpd_factory: Callable[..., SmtpServer], dns_server: DnsTestServer) -> Place:
    server = smtpd_factory(users={SMTP_USER: "the server wants another one"}, auth_require_tls=False)
    names = {n for var in VARIABLES for n in (var.name, *var.synonyms, f"{var.name}_FILE")}
    env = {k: v for k, v in os.environ.items() if k not in names and k != "DJANGO_SETTINGS_MODULE"}
    env.update(ENVIRONMENT)
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'postwarden.sqlite3'}",
        POSTWARDEN_DNS_SERVER=dns_server.address,
        POSTWARDEN_ADMIN_EMAIL=ADMIN,
        EMAIL_PROVIDER="smtp",  # several providers have keys: the environment chooses
        POSTWARDEN_HOST="127.0.0.1",
        POSTWARDEN_PORT=str(free_port()),
        POSTWARDEN_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        PW_SEED=json.dumps(
            {
                **STORED,
                "EMAIL_PROVIDER": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(server.port),
                "SMTP_SECURITY": "none",
                "SMTP_USER": SMTP_USER,
                "SMTP_TIMEOUT": "3",
                "MAIL_FROM": "ops@example.com",
                "DKIM_PRIVATE_KEY": dkim_key(),
                "DKIM_SELECTOR": "s1",
                "DKIM_DOMAIN": "example.com",
            }
        ),
    )
    found = Place(tmp_path, env, {})
    assert found.run("migrate", "migrate").returncode == 0, found.outputs["migrate"]
    assert found.run("seed", "manage", "shell", "-c", SEED).returncode == 0, found.outputs["seed"]
    del found.outputs["seed"]  # the test's own code, not a command of the product
    return found


def commands(place: Place) -> str:
    """Runs every command; returns the API key ``apikey create`` printed."""
    created = place.run("apikey create", "apikey", "create", "--name", "sweep", "--scope", "admin")
    key = created.stdout.splitlines()[-1]
    # the key is shown once, on purpose, as the last line; the rest must hold no secret
    place.outputs["apikey create"] = place.outputs["apikey create"].replace(key, "<the new key>")
    place.run("apikey create other", "apikey", "create", "--name", "old", "--scope", "send")
    place.run("apikey revoke", "apikey", "revoke", GUESSED_KEY)
    place.run("apikey list", "apikey", "list", "--all")
    place.run(
        "createadmin", "createadmin", "--email", "bob@example.com", "--password-stdin", stdin=SECOND_PASSWORD
    )
    place.run("doctor", "doctor", "--timeout", "3")
    place.run("doctor --json", "doctor", "--json", "--timeout", "3")
    place.run("doctor --send", "doctor", "--json", "--send", "--to", "bob@example.com", "--timeout", "3")
    place.run("explain", "explain", "535 5.7.8 Authentication credentials invalid")
    place.run(
        "explain --json",
        "explain",
        "--json",
        "--stage",
        "auth",
        "535 5.7.8 Authentication credentials invalid",
    )
    place.run("send-test", "send-test", "--to", "bob@example.com")
    place.run(
        "dkim generate", "dkim", "generate", "--selector", "s9", "--domain", "example.com", "--out", "new.pem"
    )
    place.run("manage check", "manage", "check")
    return key


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@pytest.fixture
def serving(place: Place) -> Iterator[Serving]:
    log = place.data / "serve.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "postwarden", "serve"],
            env=place.env,
            cwd=place.data,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    found = Serving(process, f"http://127.0.0.1:{place.env['POSTWARDEN_PORT']}", log)
    try:
        yield found
    finally:
        stop_group(process)
        place.outputs["serve"] = log.read_text("utf-8", "replace")


def wait_until_up(serving: Serving) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert serving.process.poll() is None, serving.log.read_text()[-3000:]
        try:
            if requests.get(serving.url + "/login/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"postwarden serve did not answer:\n{serving.log.read_text()[-3000:]}")


def web(serving: Serving, key: str, outputs: dict[str, str]) -> None:
    session = requests.Session()
    session.get(serving.url + "/login/", timeout=10)
    token = session.cookies["csrftoken"]
    for label, password in (("wrong", WRONG_PASSWORD), ("right", ENVIRONMENT["POSTWARDEN_ADMIN_PASSWORD"])):
        answer = session.post(
            serving.url + "/login/",
            {"username": ADMIN, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": serving.url + "/login/"},
            timeout=10,
        )
        outputs[f"web login {label}"] = answer.text
        token = session.cookies.get("csrftoken", token)
    assert "Log out" in session.get(serving.url + "/", timeout=10).text or session.cookies.get("sessionid")
    for label, bearer in (("right key", key), ("guessed key", GUESSED_KEY)):
        answer = requests.get(
            serving.url + "/api/v1/messages", headers={"Authorization": f"Bearer {bearer}"}, timeout=10
        )
        outputs[f"web api {label}"] = f"{answer.status_code} {answer.headers} {answer.text}"
    assert outputs["web api right key"].startswith("200")
    assert outputs["web api guessed key"].startswith("401")


def relay(place: Place, key: str, outputs: dict[str, str]) -> None:
    host, port = place.env["POSTWARDEN_SMTP_LISTEN"].rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the relay's own self-signed certificate
    for label, password in (("guessed key", GUESSED_KEY), ("right key", key)):
        with smtplib.SMTP(host, int(port), timeout=10) as client:
            client.starttls(context=context)
            try:
                outputs[f"relay {label}"] = repr(client.login("app", password))
                client.sendmail(
                    "ops@example.com",
                    ["carol@example.com"],
                    b"From: ops@example.com\r\nSubject: hi\r\n\r\nhello\r\n",
                )
            except smtplib.SMTPException as exc:
                outputs[f"relay {label}"] = repr(exc)
    assert "235" in outputs["relay right key"]


def attempts_to(place: Place, address: str) -> int:
    """Attempts the serve process's worker recorded for ``address`` (refused by the SMTP server)."""
    url = place.env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(f"file:{url}?mode=ro", uri=True, timeout=10)) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM outbox_attempt a JOIN outbox_recipient r ON a.recipient_id = r.id"
            " WHERE r.address = ?",
            (address,),
        ).fetchone()
    return int(count)


def log_files(data: Path) -> dict[str, str]:
    return {
        f"log file {p.name}": p.read_text("utf-8", "replace")
        for p in sorted((data / "logs").glob("*.jsonl*"))
    }


def data_files(data: Path) -> dict[str, str]:
    """Every other file of the data directory, byte for byte: the SQLite database and its
    write-ahead log (a secret stored unsealed shows there as it is), captured mails, the
    relay's certificate. Not new.pem: the key ``dkim generate --out`` was asked to write."""
    return {
        f"data file {p.relative_to(data)}": p.read_bytes().decode("latin-1")
        for p in sorted(data.rglob("*"))
        if p.is_file() and p.name != "new.pem" and p.parent.name != "logs"
    }


def test_no_command_process_or_log_file_holds_a_secret(
    place: Place, serving: Serving, request: pytest.FixtureRequest
) -> None:
    key = commands(place)
    wait_until_up(serving)
    web(serving, key, place.outputs)
    relay(place, key, place.outputs)
    wait_for(lambda: attempts_to(place, "carol@example.com") > 0, "the worker's attempt at the relayed mail")
    os.killpg(serving.process.pid, signal.SIGTERM)
    serving.process.wait(timeout=30)
    place.outputs["serve"] = serving.log.read_text("utf-8", "replace")
    files = log_files(place.data)
    secrets = seeded(
        Secret("dkim key", dkim_key()),
        Secret("api key", key.split("_", 2)[2]),  # after pw_<prefix>_, which lists show
        Secret("second admin password", SECOND_PASSWORD),
        Secret("guessed api key", GUESSED_KEY.split("_", 2)[2]),
    )
    # the commands did their work: the server refused the password, the worker said so
    assert "535" in place.outputs["send-test"]
    assert any('"finding": "auth.failed"' in text for text in files.values()), list(files)
    assert {"web", "worker", "relay"} <= {name.split(" ")[-1].split("-")[0] for name in files}
    stored = data_files(place.data)
    assert any(name.endswith("postwarden.sqlite3") for name in stored), list(stored)
    surfaces = {**place.outputs, **files, **stored}
    assert sweep(surfaces, secrets) == []
    report(
        request,
        "secrets sweep (commands, serve, data directory)",
        secrets=len(secrets),
        surfaces=len(surfaces),
        forms=sum(len(recognisable(s)) for s in secrets),
    )
    assert len(place.outputs) >= 20

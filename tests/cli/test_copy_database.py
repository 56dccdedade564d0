"""Moving an install from SQLite to PostgreSQL without losing queued mail (issue #19,
docs/deploy.md): mail queued while the SMTP server was down, a secret saved in the console, an API
key and the console's admin, all in SQLite; ``postwarden copy-database`` into an empty
PostgreSQL database; then a worker on PostgreSQL delivers every queued message to the
SMTP server, the key still authenticates and the saved secret still decrypts."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.outbox.procs import wait_for
from tests.pg import Cluster, pg_cluster  # noqa: F401 - a session fixture
from tests.processes import stop_group
from tests.serving import start, tail
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
MESSAGES = 5
SAVED_SECRET = "key-saved-in-the-console-0123456789"

#: run in the install's environment: queue mail, save a secret, make a key; print them
SEED = f"""
import json
from postwarden.cli.django_setup import setup
setup()
from postwarden.configstore.runtime import save
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.accounts.models import ApiKey
save({{"MAILGUN_WEBHOOK_SIGNING_KEY": "{SAVED_SECRET}"}})
ids = [enqueue(Outgoing(to=[f"r{{i}}@example.net"], subject=f"queued {{i}}", text="hi")).public_id
       for i in range({MESSAGES})]
_, key = ApiKey.issue("app", ["send"])
print(json.dumps({{"ids": ids, "key": key}}))
"""

#: read back in the moved install: states, the key, the saved secret
CHECK = """
import json, sys
from postwarden.cli.django_setup import setup
setup()
from postwarden.api.auth import lookup
from postwarden.configstore.runtime import current_settings
from postwarden.outbox.models import Recipient
print(json.dumps({
    "states": sorted(Recipient.objects.values_list("state", flat=True)),
    "key": lookup(sys.argv[1]) is not None,
    "secret": current_settings().webhooks.mailgun_signing_key.reveal(),
}))
"""


def python(code: str, env: dict[str, str], cwd: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_queued_mail_moves_from_sqlite_to_postgres_and_is_delivered(
    pg_cluster: Cluster,  # noqa: F811
    smtpd: SmtpServer,
    tmp_path: Path,
) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "DJANGO_"))
    }
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtpd.port),
        SMTP_SECURITY="none",
        MAIL_FROM="ops@example.com",
    )
    cli = [sys.executable, "-m", "postwarden"]
    assert (
        subprocess.run([*cli, "migrate"], env=env, cwd=tmp_path, capture_output=True, timeout=120).returncode
        == 0
    )
    seeded = python(SEED, env, tmp_path)
    target = pg_cluster.createdb("moved")

    copied = subprocess.run(
        [*cli, "copy-database", target], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert copied.returncode == 0, copied.stderr
    assert f"{MESSAGES} recipients are waiting to be sent" in copied.stdout
    again = subprocess.run(
        [*cli, "copy-database", target], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 1
    assert "is not empty" in again.stderr

    moved = {**env, "DATABASE_URL": target}
    before = python(CHECK, moved, tmp_path, str(seeded["key"]))
    assert before == {"states": ["queued"] * MESSAGES, "key": True, "secret": SAVED_SECRET}
    log = tmp_path / "worker.log"
    worker = start([*cli, "worker", "--idle-sleep", "0.1"], moved, tmp_path, log)
    try:
        wait_for(lambda: len(smtpd.delivered) >= MESSAGES, "the queued mail at the SMTP server", bound=120)
    finally:
        stop_group(worker)
    subjects = sorted(
        str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"]) for m in smtpd.delivered
    )
    assert subjects == [f"queued {i}" for i in range(MESSAGES)], tail(log)
    after = python(CHECK, moved, tmp_path, str(seeded["key"]))
    assert after["states"] == ["sent"] * MESSAGES

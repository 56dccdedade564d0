"""A refresh token the identity platform rotates (a new ``refresh_token`` in the answer to
a refresh, the used one retired) is saved sealed, so the worker that starts next signs in
with it; of two rotations saved out of order the newer stays. Against the local identity
server (tests/oauthd.py) in Microsoft's, Google's and RFC 6749's formats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from postwarden.configstore import runtime
from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings, save_rotated_refresh_token
from postwarden.core.secrets import Secret
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.console.conftest import _fresh_settings_cache, clean_env  # noqa: F401 - fixtures
from tests.oauthd import BearerCheck, IdentityServer
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_env", "ssl_cert_file")]
MAILBOX = "alerts@contoso.test"
TENANT = "contoso.onmicrosoft.test"
GOOGLE_SECRET = "GOCSPX-rotation-client-secret"


def _deliver(worker_id: str) -> None:
    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id=worker_id, retry_base=0.01), settings_source=current_settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def _platform(provider: str, identity: IdentityServer) -> tuple[str, dict[str, str], str]:
    """(client id, the settings naming the platform, the SMTP server's style)."""
    if provider == "microsoft":
        app = identity.register_app(TENANT)  # a public client: a person's mailbox
        more = {"OAUTH2_TENANT_ID": TENANT, "OAUTH2_AUTHORITY": identity.url}
        return app.client_id, more, "exchange"
    if provider == "google":
        app = identity.register_app("google", secret=GOOGLE_SECRET)
        more = {"OAUTH2_CLIENT_SECRET": GOOGLE_SECRET, "OAUTH2_TOKEN_URL": f"{identity.url}/google/token"}
        return app.client_id, more, "gmail"
    app = identity.register_app("generic")
    return app.client_id, {"OAUTH2_TOKEN_URL": f"{identity.url}/generic/token"}, "generic"


@pytest.mark.parametrize("provider", ["microsoft", "google", "generic"])
def test_a_rotated_refresh_token_is_saved_sealed_and_used_after_a_restart(
    provider: str, smtpd_factory: Callable[..., SmtpServer], identity: IdentityServer
) -> None:
    identity.rotate_refresh_tokens = True
    client_id, more, style = _platform(provider, identity)
    first = identity.register_refresh_token(client_id, MAILBOX, "https://mail.google.com/")
    check = BearerCheck(identity, style)
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "localhost",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USER": MAILBOX,
            "MAIL_FROM": MAILBOX,
            "SMTP_TIMEOUT": "5",
            "SMTP_AUTH": "oauth2",
            "OAUTH2_PROVIDER": provider,
            "OAUTH2_CLIENT_ID": client_id,
            "OAUTH2_REFRESH_TOKEN": first,
            **more,
        }
    )

    enqueue(Outgoing(to=["carol@example.org"], subject="one", text="x"), settings=current_settings())
    _deliver("before-restart")
    saved = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    enqueue(Outgoing(to=["dave@example.org"], subject="two", text="x"), settings=current_settings())
    _deliver("after-restart")  # a new worker: its token source starts from what is saved

    assert identity.grants[first].revoked
    assert saved != first
    assert identity.grants[saved].user == MAILBOX
    row = StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN")
    assert row.sealed
    assert saved not in row.value
    assert [r.state for r in Recipient.objects.order_by("address")] == ["sent", "sent"]
    assert [kind for kind, _, _ in identity.issued] == ["refresh_token", "refresh_token"]
    assert check.attempts == [(MAILBOX, "ok")] * 2


def test_an_older_rotation_never_replaces_a_newer_one() -> None:
    runtime.save({"OAUTH2_REFRESH_TOKEN": "rt-connected"})
    now = time.time() + 5  # after the save above

    newer = save_rotated_refresh_token(Secret("rt-newer"), now + 10)
    older = save_rotated_refresh_token(Secret("rt-older"), now)  # a slower worker, issued earlier

    assert (newer, older) == (True, False)
    assert runtime.stored_values()["OAUTH2_REFRESH_TOKEN"] == "rt-newer"
    assert StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN").sealed


def test_a_refresh_token_from_the_environment_is_not_saved_in_the_console_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTH2_REFRESH_TOKEN", "rt-from-the-environment")

    assert save_rotated_refresh_token(Secret("rt-rotated"), time.time()) is False
    assert not StoredSetting.objects.filter(name="OAUTH2_REFRESH_TOKEN").exists()

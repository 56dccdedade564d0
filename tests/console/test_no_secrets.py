"""No secret value ever reaches a page: seed distinctive secrets in the console store
and the environment, render every page and partial, grep the HTML."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from postwarden.configstore.runtime import save
from postwarden.console.access import ACCESS
from postwarden.core.dkim import generate_key
from postwarden.mailtemplates import store as templates
from postwarden.outbox.submission import FileIn
from tests.console.conftest import DISTINCT_SENDGRID_KEY, DISTINCT_SMTP_PASSWORD, DISTINCT_WEBHOOK_SECRET
from tests.console.helpers import ATTACHED, capture_one, enqueue_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
DISTINCT_ENV_KEY = "key-Zq9XkVbN-mailgun-from-env-do-not-leak"


def test_no_page_shows_a_secret(admin_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    dkim = generate_key(1024).reveal()
    save(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": "1",
            "SMTP_USER": "ops",
            "SMTP_PASSWORD": DISTINCT_SMTP_PASSWORD,
            "SENDGRID_API_KEY": DISTINCT_SENDGRID_KEY,
            "POSTWARDEN_WEBHOOK_SECRET": DISTINCT_WEBHOOK_SECRET,
            "DKIM_PRIVATE_KEY": dkim,
            "DKIM_SELECTOR": "s1",
            "MAIL_FROM": "ops@example.com",
            "EMAIL_PROVIDER": "smtp",
            "SMTP_SECURITY": "none",
        },
        None,
    )
    monkeypatch.setenv("MAILGUN_API_KEY", DISTINCT_ENV_KEY)
    message = enqueue_one(files=[FileIn("report.csv", b"a,b\r\n")])
    captured = capture_one(ATTACHED)
    templates.save("welcome", templates.TemplateDraft("Hi", "Hello"), by="test")
    args = {
        "message_attachment": {"public_id": message.public_id, "index": 0},
        "template_diff": {"name": "welcome"},
        "captured_attachment": {"captured_id": captured, "index": 0},
        "message": {"public_id": message.public_id},
        "message_html": {"public_id": message.public_id},
        "message_raw": {"public_id": message.public_id},
        "captured_message": {"captured_id": captured},
        "captured_html": {"captured_id": captured},
        "captured_raw": {"captured_id": captured},
    }
    pages = [
        reverse(f"console:{name}", kwargs=args.get(name))
        for name in ACCESS
        if not ACCESS[name].public
        and (ACCESS[name].write is None or name in ("settings", "suppressions", "doctor", "people", "held"))
    ]
    bodies = {url: admin_client.get(url, follow=True) for url in pages}  # the OAuth2 callback redirects
    # the partial of a failed connection test, transcript included
    form = {
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "1",
        "SMTP_SECURITY": "none",
        "SMTP_USER": "ops",
        "MAIL_FROM": "ops@example.com",
    }
    bodies["test"] = admin_client.post("/settings/test-connection/", form, HTTP_HX_REQUEST="true")
    bodies["save"] = admin_client.post("/settings/", {**form, "action": "save"}, follow=True)
    secrets = (
        DISTINCT_SMTP_PASSWORD,
        DISTINCT_SENDGRID_KEY,
        DISTINCT_WEBHOOK_SECRET.split(":")[1],
        DISTINCT_ENV_KEY,
    )
    dkim_body = "".join(dkim.strip().splitlines()[1:-1])[:60]
    for url, response in bodies.items():
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        text = body.decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in text, (url, secret[:6])
        assert dkim_body not in text, url
    assert "••••leak" in bodies[reverse("console:settings")].content.decode()  # masked, last four at most

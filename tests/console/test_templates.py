"""The console's template pages (list, editor with a live preview, versions and their
diff, Send test, delete) and a message's files: listed with size and type, downloaded as sent."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

from postwarden.accounts.models import User
from postwarden.configstore import runtime
from postwarden.mailtemplates import store
from postwarden.mailtemplates.models import Version
from postwarden.outbox.models import Event, Message
from postwarden.outbox.submission import FileIn
from tests.console.conftest import logged_in
from tests.console.helpers import enqueue_one

pytestmark = pytest.mark.django_db

FORM = {
    "name": "password-reset",
    "subject": "Reset, {{ name }}",
    "html": '<p>Hi {{ name }}</p>\n<a href="{{ reset_url }}">reset</a>',
    "text": "",
    "sample_variables": json.dumps({"name": "Ann", "reset_url": "https://app.example.com/r/1"}),
}


@pytest.fixture(autouse=True)
def _mail_settings() -> None:
    runtime.save({"MAIL_FROM": "ops@example.com", "APP_URL": "https://app.example.com"})


def test_a_settings_user_creates_and_changes_a_template_and_sees_the_diff(settings_client: Client) -> None:
    created = settings_client.post("/templates/", FORM)
    assert created.status_code == 302
    assert created["Location"] == "/templates/password-reset/"
    version = store.latest("password-reset")
    assert version is not None
    assert (version.number, version.text, version.sample_variables["name"]) == (1, None, "Ann")
    assert version.created_by == "console user sam@example.com"
    changed = {**FORM, "html": '<p>Hello {{ name }}</p>\n<a href="{{ reset_url }}">reset</a>'}
    assert settings_client.post("/templates/password-reset/", changed).status_code == 302
    assert Version.objects.filter(template__name="password-reset").count() == 2
    page = settings_client.get("/templates/password-reset/").content.decode()
    assert "version 2" in page
    assert 'href="/templates/password-reset/diff/?a=1&amp;b=2"' in page
    diff = settings_client.get("/templates/password-reset/diff/?a=1&b=2").content.decode()
    assert '<span class="removed">-&lt;p&gt;Hi {{ name }}&lt;/p&gt;</span>' in diff
    assert '<span class="added">+&lt;p&gt;Hello {{ name }}&lt;/p&gt;</span>' in diff
    listed = settings_client.get("/templates/").content.decode()
    assert 'href="/templates/password-reset/"' in listed


def test_a_template_that_does_not_compile_is_not_saved_and_the_form_says_why(settings_client: Client) -> None:
    page = settings_client.post("/templates/", {**FORM, "html": "<p>\n{{ name | shout }}</p>"})
    assert page.status_code == 200
    # the engine's own words are quoted as they came, isolated left to right
    assert 'html line 2: <bdi dir="ltr">No filter named &#x27;shout&#x27;.</bdi>' in page.content.decode()
    assert not Version.objects.exists()


def test_a_viewer_previews_but_cannot_save(viewer_client: Client) -> None:
    assert viewer_client.post("/templates/", FORM).status_code == 403
    preview = viewer_client.post("/templates/preview/", FORM).content.decode()
    assert "Reset, Ann" in preview
    # the rendered HTML goes into a sandboxed frame's srcdoc, escaped as an attribute
    assert 'sandbox="" title="Phone preview' in preview
    assert 'srcdoc="&lt;p&gt;Hi Ann&lt;/p&gt;' in preview
    assert "https://app.example.com/r/1" in preview  # the text part made from the HTML


def test_the_preview_names_a_missing_variable_and_questioned_links(viewer_client: Client) -> None:
    missing = viewer_client.post("/templates/preview/", {**FORM, "sample_variables": '{"name": "Ann"}'})
    assert (
        'html line 2: variable <bdi dir="ltr">&#x27;reset_url&#x27;</bdi> is missing'
        in missing.content.decode()
    )
    local = {**FORM, "sample_variables": json.dumps({"name": "A", "reset_url": "http://localhost:8000/r"})}
    warned = viewer_client.post("/templates/preview/", local).content.decode()
    assert "data-preview-links" in warned
    assert "http://localhost:8000/r" in warned
    bad_json = viewer_client.post("/templates/preview/", {**FORM, "sample_variables": "{name: 1}"})
    assert "sample variables: not JSON" in bad_json.content.decode()


def test_send_test_queues_the_newest_version_with_its_samples(settings_client: Client) -> None:
    settings_client.post("/templates/", FORM)
    sent = settings_client.post("/templates/password-reset/send-test/", {"to": "qa@example.com"})
    assert sent.status_code == 302
    message = Message.objects.get()
    assert (message.subject, message.source) == ("Reset, Ann", "console")
    assert Event.objects.get(message=message, kind="template").detail == (
        "rendered from template password-reset version 1"
    )


def test_a_settings_user_deletes_a_template_by_post_with_csrf_after_a_confirmation(
    settings_user: User,
) -> None:
    store.save("welcome", store.TemplateDraft("Hi", "Hello", None, {}), by="test", create=True)
    store.save("welcome", store.TemplateDraft("Hi again", "Hello", None, {}), by="test")
    store.save("keep-me", store.TemplateDraft("Hi", "Hello", None, {}), by="test", create=True)
    client = logged_in(settings_user, csrf=True)
    page = client.get("/templates/welcome/").content.decode()
    form = re.search(r'<form method="post" action="/templates/welcome/delete/">(.*?)</form>', page, re.S)
    assert form is not None
    assert 'data-confirm="Delete template welcome and all its versions?' in form.group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1))
    assert token is not None
    listing = client.get("/templates/").content.decode()
    assert 'action="/templates/welcome/delete/"' in listing
    # a GET deletes nothing, nor does a POST without the CSRF token
    assert client.get("/templates/welcome/delete/")["Location"] == "/templates/welcome/"
    assert client.post("/templates/welcome/delete/").status_code == 403
    assert store.latest("welcome") is not None
    done = client.post("/templates/welcome/delete/", {"csrfmiddlewaretoken": token.group(1)})
    assert (done.status_code, done["Location"]) == (302, "/templates/")
    after = client.get("/templates/").content.decode()
    assert "Template welcome deleted with all its versions." in after
    assert "/templates/welcome/" not in after
    assert store.latest("welcome") is None
    assert not Version.objects.filter(template__name="welcome").exists()
    assert store.latest("keep-me") is not None
    assert client.get("/templates/welcome/").status_code == 404
    again = client.post(
        "/templates/welcome/delete/", {"csrfmiddlewaretoken": token.group(1)}, follow=True
    ).content.decode()
    assert "There is no template welcome." in again


def test_a_viewer_cannot_delete_a_template(viewer_client: Client) -> None:
    store.save("welcome", store.TemplateDraft("Hi", "Hello", None, {}), by="test", create=True)
    assert "/delete/" not in viewer_client.get("/templates/welcome/").content.decode()
    assert "/delete/" not in viewer_client.get("/templates/").content.decode()
    assert viewer_client.post("/templates/welcome/delete/").status_code == 403
    assert store.latest("welcome") is not None


def test_a_message_page_lists_its_files_and_downloads_them_as_sent(settings_client: Client) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    message = enqueue_one(
        html='<img src="cid:logo">',
        files=[FileIn("Facture été.pdf", pdf), FileIn("logo.png", b"\x89PNG\r\n\x1a\n", content_id="logo")],
    )
    page = settings_client.get(f"/deliveries/{message.public_id}/").content.decode()
    assert "Facture été.pdf" in page
    assert "application/pdf" in page
    assert "2.0\xa0KB" in page  # 2,057 bytes
    assert "inline <code>cid:logo</code>" in page
    links = [f"/deliveries/{message.public_id}/attachments/{i}/" for i in (0, 1)]
    assert all(f'href="{link}"' in page for link in links)
    # the inline logo comes first: it sits in the related part, before the attachment
    download = settings_client.get(links[1])
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(pdf).hexdigest()
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == "attachment; filename*=utf-8''Facture%20%C3%A9t%C3%A9.pdf"
    assert settings_client.get(f"/deliveries/{message.public_id}/attachments/9/").status_code == 404


def test_the_preview_says_a_links_problem_and_a_template_error_in_the_readers_language(
    viewer: User, viewer_client: Client
) -> None:
    viewer.language = "fa"
    viewer.save()
    local = {**FORM, "sample_variables": json.dumps({"name": "A", "reset_url": "http://localhost:8000/r"})}
    warned = viewer_client.post("/templates/preview/", local).content.decode()
    assert "به localhost اشاره می‌کند که گیرندگان به آن دسترسی ندارند" in warned
    assert "which recipients cannot reach" not in warned
    broken = viewer_client.post("/templates/preview/", {**FORM, "html": "<p>\n{{ name | shout }}</p>"})
    # the place in Persian digits, Jinja2's own words as they came, isolated left to right
    assert (
        'بخش HTML، خط ۲: <bdi dir="ltr">No filter named &#x27;shout&#x27;.</bdi>' in broken.content.decode()
    )

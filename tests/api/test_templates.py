"""/api/v1/templates and messages that name a template: stored versions, strict and
sandboxed rendering, the 400 that names the missing variable and its line, and the
template's name and version on the message's timeline."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.models import Event, Message

URL = "/api/v1/templates"
pytestmark = pytest.mark.django_db

RESET = {
    "name": "password-reset",
    "subject": "Reset your password, {{ name }}",
    "html": (
        '<img src="cid:logo" alt="Logo">\n'
        "<p>Hello {{ name }},</p>\n"
        '<p><a href="{{ reset_url }}">Choose a new password</a></p>\n'
    ),
    "sample_variables": {"name": "Ann", "reset_url": "https://app.example.com/reset/abc"},
}


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


@pytest.fixture(autouse=True)
def _console_settings() -> None:
    runtime.save({"MAIL_FROM": "ops@example.com", "APP_URL": "https://app.example.com"})


@pytest.fixture
def auth() -> dict[str, str]:
    _, plain = ApiKey.issue("shop", ["send", "read"])
    return {"Authorization": f"Bearer {plain}"}


def call(client: Client, method: str, url: str, auth: dict[str, str], body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(url, data, content_type="application/json", headers=auth)


def test_a_template_is_created_read_changed_listed_and_deleted(client: Client, auth: dict[str, str]) -> None:
    created = call(client, "post", URL, auth, RESET)
    assert created.status_code == 201, created.json()
    assert (created.json()["version"], created.json()["created_by"]) == (1, "api key shop")
    assert call(client, "post", URL, auth, RESET).status_code == 409
    changed = call(
        client, "put", f"{URL}/password-reset", auth, {**RESET, "subject": "Reset it"} | {"name": None}
    )
    assert changed.status_code == 422  # name is not part of a change
    body = {k: v for k, v in RESET.items() if k != "name"} | {"subject": "Reset it, {{ name }}"}
    changed = call(client, "put", f"{URL}/password-reset", auth, body)
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert [v["version"] for v in changed.json()["versions"]] == [1, 2]
    first = call(client, "get", f"{URL}/password-reset?version=1", auth).json()
    assert first["subject"] == RESET["subject"]
    listed = call(client, "get", URL, auth).json()
    assert [(t["name"], t["version"], t["subject"]) for t in listed] == [
        ("password-reset", 2, "Reset it, {{ name }}")
    ]
    assert call(client, "delete", f"{URL}/password-reset", auth).status_code == 204
    assert call(client, "get", f"{URL}/password-reset", auth).status_code == 404
    assert call(client, "put", f"{URL}/password-reset", auth, body).status_code == 404


@pytest.mark.parametrize(
    ("change", "part", "words"),
    [
        ({"html": "<p>\n{{ name | shout }}</p>"}, "html", "html line 2: No filter named 'shout'"),
        ({"text": "a\nb\n{% if name %}open"}, "text", "text line 3"),
        ({"subject": "{{ }}"}, "subject", "subject line 1"),
        ({"text": None, "html": None}, "text", "needs a text part, an HTML part or both"),
        ({"name": "no spaces please"}, "name", "not allowed"),
    ],
)
def test_a_template_that_cannot_compile_is_refused_with_its_line(
    client: Client, auth: dict[str, str], change: dict[str, Any], part: str, words: str
) -> None:
    response = call(client, "post", URL, auth, {**RESET, **change})
    assert response.status_code == 400
    assert response.json()["field"] == part
    assert words in response.json()["detail"]


def test_render_previews_with_sample_or_given_variables_and_escapes_html(
    client: Client, auth: dict[str, str]
) -> None:
    call(client, "post", URL, auth, RESET)
    sample = call(client, "post", f"{URL}/password-reset/render", auth, {}).json()
    assert sample["subject"] == "Reset your password, Ann"
    assert '<a href="https://app.example.com/reset/abc">' in sample["html"]
    # no text part in the template: made from the HTML, the link kept
    assert "Choose a new password" in sample["text"]
    assert "https://app.example.com/reset/abc" in sample["text"]
    assert sample["links"] == []
    given = call(
        client,
        "post",
        f"{URL}/password-reset/render",
        auth,
        {"variables": {"name": "<script>x</script>", "reset_url": "http://localhost:8000/reset/abc"}},
    ).json()
    assert "&lt;script&gt;x&lt;/script&gt;" in given["html"]
    assert given["subject"] == "Reset your password, <script>x</script>"  # a subject is not HTML
    assert given["links"] == [
        {
            "url": "http://localhost:8000/reset/abc",
            "problem": "points at localhost, which recipients cannot reach",
        }
    ]


def test_render_names_the_missing_variable_and_its_line(client: Client, auth: dict[str, str]) -> None:
    call(client, "post", URL, auth, RESET)
    response = call(client, "post", f"{URL}/password-reset/render", auth, {"variables": {"name": "Ann"}})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "template 'password-reset' version 1, html line 3: variable 'reset_url' is missing",
        "field": "variables.reset_url",
    }


def test_the_sandbox_keeps_python_objects_out_of_reach(client: Client, auth: dict[str, str]) -> None:
    call(client, "post", URL, auth, {**RESET, "name": "probe", "text": "{{ name.__class__.__mro__ }}"})
    response = call(
        client, "post", f"{URL}/probe/render", auth, {"variables": {"name": "x", "reset_url": "y"}}
    )
    assert response.status_code == 400
    assert "unsafe" in response.json()["detail"]


def test_a_message_names_a_template_and_its_timeline_names_the_version(
    client: Client, auth: dict[str, str]
) -> None:
    call(client, "post", URL, auth, {**RESET, "text": "Hi {{ name }}: {{ reset_url }}"})
    call(client, "put", f"{URL}/password-reset", auth, {k: v for k, v in RESET.items() if k != "name"})
    sent = call(
        client,
        "post",
        "/api/v1/messages",
        auth,
        {
            "to": ["ann@example.net"],
            "template": "password-reset",
            "variables": {"name": "Ann", "reset_url": "https://app.example.com/reset/xyz"},
        },
    )
    assert sent.status_code == 202, sent.json()
    message = Message.objects.get()
    assert message.subject == "Reset your password, Ann"
    parsed = email.message_from_bytes(bytes(message.content.raw), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html = parsed.get_body(preferencelist=("html",))
    text = parsed.get_body(preferencelist=("plain",))
    assert html is not None
    assert text is not None
    assert 'href="https://app.example.com/reset/xyz"' in html.get_content()
    assert "https://app.example.com/reset/xyz" in text.get_content()  # version 2 has no text: made from HTML
    timeline = call(client, "get", f"/api/v1/messages/{sent.json()['id']}", auth).json()["timeline"]
    [entry] = [e for e in timeline if e["kind"] == "template"]
    assert entry["detail"] == "rendered from template password-reset version 2"
    assert entry["data"] == {"template": "password-reset", "version": 2}


def test_a_message_missing_a_variable_is_refused_and_nothing_is_queued(
    client: Client, auth: dict[str, str]
) -> None:
    call(client, "post", URL, auth, RESET)
    response = call(
        client,
        "post",
        "/api/v1/messages",
        auth,
        {"to": ["ann@example.net"], "template": "password-reset", "variables": {"name": "Ann"}},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "variables.reset_url"
    assert "html line 3: variable 'reset_url' is missing" in response.json()["detail"]
    assert Message.objects.count() == 0
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"template": "nope"}, "template", "no template 'nope'"),
        ({"template": "password-reset", "subject": "x", "variables": {}}, "template", "not both"),
        ({"text": "x", "variables": {"a": 1}}, "variables", "give 'template' too"),
    ],
)
def test_a_template_message_is_refused_for_what_it_lacks_or_mixes(
    client: Client, auth: dict[str, str], body: dict[str, Any], field: str, words: str
) -> None:
    call(client, "post", URL, auth, RESET)
    response = call(client, "post", "/api/v1/messages", auth, {"to": ["ann@example.net"], **body})
    assert response.status_code == 400
    assert (response.json()["field"], words in response.json()["detail"]) == (field, True)


def test_a_batch_renders_each_message_and_refuses_only_the_one_missing_a_variable(
    client: Client, auth: dict[str, str]
) -> None:
    call(client, "post", URL, auth, RESET)
    good = {"to": ["a@example.net"], "template": "password-reset", "variables": RESET["sample_variables"]}
    bad = {
        "to": ["b@example.net"],
        "template": "password-reset",
        "variables": {"reset_url": "https://app.example.com/r"},
    }
    response = call(client, "post", "/api/v1/messages/batch", auth, {"messages": [good, bad, good]})
    body = response.json()
    assert (body["accepted"], body["refused"]) == (2, 1)
    assert body["results"][1]["error"]["field"] == "variables.name"
    assert Event.objects.filter(kind="template").count() == 2


def test_the_openapi_schema_documents_templates(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    assert {"/api/v1/templates", "/api/v1/templates/{name}", "/api/v1/templates/{name}/render"} <= set(
        schema["paths"]
    )
    message_in = schema["components"]["schemas"]["MessageIn"]["properties"]
    assert {"template", "variables"} <= set(message_in)


def test_a_change_that_loses_a_race_is_a_conflict_to_send_again(
    client: Client, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two changes at the same moment: the unique version number lets one win; the other is
    told 409 (try again), not 400 (your input is wrong)."""
    from django.db import IntegrityError

    from postwarden.mailtemplates.models import Version

    assert call(client, "post", URL, auth, RESET).status_code == 201

    def lost_the_race(**fields: Any) -> Version:
        raise IntegrityError("UNIQUE constraint failed: mailtemplates_version.template_id, number")

    monkeypatch.setattr(Version.objects, "create", lost_the_race)
    body = {k: v for k, v in RESET.items() if k != "name"}
    answer = call(client, "put", f"{URL}/password-reset", auth, body)
    assert answer.status_code == 409
    assert (
        answer.json()["detail"] == "template 'password-reset' was changed at the same moment; send it again"
    )
    assert call(client, "put", f"{URL}/missing", auth, body).status_code == 404

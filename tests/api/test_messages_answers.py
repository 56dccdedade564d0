"""The send routes write their 202 answers themselves (api/messages.py ``_json``) instead
of having the router validate and render them: these tests hold those answers to
exactly what the router would have written from the response schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client
from ninja.renderers import JSONRenderer
from pydantic import BaseModel

from postwarden.accounts.models import ApiKey
from postwarden.api.message_schemas import AcceptedOut, BatchOut
from postwarden.configstore import runtime

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"
    runtime.save({"MAIL_FROM": "ops@example.com"})


def post(client: Client, url: str, body: Any, plain: str = "") -> Any:
    plain = plain or ApiKey.issue("app", ["send"])[1]
    return client.post(
        url, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )


def rendered_by_router(model: type[BaseModel], content: bytes) -> bytes:
    """What ninja writes for this data: validated against the schema, dumped, rendered."""
    dumped = model.model_validate(json.loads(content)).model_dump()
    text: str = JSONRenderer().render(HttpRequest(), dumped, response_status=202)
    return text.encode()


def test_it_answers_one_message_as_the_schema_renders_it(client: Client) -> None:
    body = {"to": ["a@example.net", "B <b@example.org>"], "subject": "s", "text": "t", "idempotency_key": "k"}
    _, plain = ApiKey.issue("app", ["send"])
    for duplicate in (False, True):
        response = post(client, "/api/v1/messages", body, plain)
        assert response.status_code == 202
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert response.json()["duplicate"] is duplicate
        assert response.content == rendered_by_router(AcceptedOut, response.content)


def test_it_answers_a_batch_with_accepted_and_refused_items_as_the_schema_renders_it(client: Client) -> None:
    messages = [
        {"to": "a@example.net", "text": "t"},
        {"to": ["not an address"]},
        {"to": ["c@example.com"], "cc": ["d@example.com"], "tags": ["x"]},
        {"to": ["e@example.com"], "headers": {"Subject": "no"}},
    ]
    response = post(client, "/api/v1/messages/batch", {"messages": messages})
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json; charset=utf-8"
    answer = response.json()
    assert (answer["accepted"], answer["refused"]) == (2, 2)
    assert [item["error"] is None for item in answer["results"]] == [True, False, True, False]
    assert answer["results"][1] == {
        "index": 1,
        "id": None,
        "message_id": None,
        "duplicate": False,
        "recipients": [],
        "error": answer["results"][1]["error"],
    }
    assert answer["results"][1]["error"]["field"] == "to"
    assert response.content == rendered_by_router(BatchOut, response.content)


def test_it_answers_an_empty_batch_as_the_schema_renders_it(client: Client) -> None:
    response = post(client, "/api/v1/messages/batch", {"messages": []})
    assert response.status_code == 202
    assert response.content == b'{"accepted": 0, "refused": 0, "results": []}'

""" "Test connection" with an API provider: the doctor's read-only provider probe,
against a local server answering as Postmark's documented API does."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
TOKEN = "pm-Zq9XkVbN-server-token-do-not-leak"


def form(server: HTTPServer) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "postmark",
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": server.url_for("/"),
        "MAIL_FROM": "ops@example.com",
    }


def test_a_rejected_token_is_explained_with_the_apis_words(
    settings_client: Client, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/server", method="GET").respond_with_json(
        {"ErrorCode": 10, "Message": "Request does not contain a valid Server API token."}, status=401
    )
    html = settings_client.post(
        "/settings/test-connection/", form(httpserver), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "provider.invalid_credentials" in html
    assert "Request does not contain a valid Server API token." in html
    assert TOKEN not in html
    assert httpserver.log[0][0].headers["X-Postmark-Server-Token"] == TOKEN


def test_an_accepted_token_passes(settings_client: Client, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/server", method="GET").respond_with_json({"ID": 1, "Name": "Production"})
    httpserver.expect_request("/message-streams/outbound", method="GET").respond_with_json({"ID": "outbound"})
    html = settings_client.post(
        "/settings/test-connection/", form(httpserver), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<span class="badge pass">OK</span> postmark: the API accepted the key' in html
    assert "server &#x27;Production&#x27;" in html

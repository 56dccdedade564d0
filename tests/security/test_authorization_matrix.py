"""The authorization matrix of issue #8: EVERY route of the project's URL map (Django's
resolver walked to the leaves, ninja's API operations with the methods its schema lists)
x every kind of caller (anonymous, a console user of each role, an API key of each scope),
asserting the status written in :data:`TABLE`.

The table is written by hand, apart from console/access.py's ACCESS (which the console
enforces), so a rule loosened there fails here. A route or method that is not in the table
fails :func:`test_it_answers_each_caller_as_the_table_says` with the statuses it gave, to
be copied into the table after a look at each. Real requests through Django's test client
and the real URL map; rows made by the real services for routes with parameters (a
message, a captured mail, a member, a key, a user, a suppression).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Final

import pytest
from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from postwarden.accounts.models import ApiKey, Member, MemberGroup, User
from postwarden.api.api import api
from postwarden.mailtemplates.models import Template, Version
from postwarden.outbox.models import Message, Suppression
from tests.reliability.figures import report
from tests.security.conftest import IDENTITIES, World

pytestmark = pytest.mark.django_db

#: a 302 to the log-in page (the console's answer to a caller without a session)
LOGIN: Final = "login"
Status = int | str
#: the columns: anonymous, viewer, settings, admin, key:send, key:read, key:admin
Row = tuple[Status, Status, Status, Status, Status, Status, Status]

# Console pages: no session -> log-in page, whatever API key is sent (keys are for the API).
# The console's rule (access.py) says which role; the statuses of allowed calls are those of
# an empty form or a harmless request.
_L = LOGIN


def _console(viewer: Status, settings: Status, admin: Status) -> Row:
    return (_L, viewer, settings, admin, _L, _L, _L)


def _api(send: Status, read: Status, admin: Status) -> Row:
    # a console session is no API credential: 401 for every user, as for anonymous; a key
    # without the route's scope: 403 (api/auth.py)
    return (401, 401, 401, 401, send, read, admin)


PUBLIC: Final[Row] = (200,) * 7

TABLE: Final[dict[tuple[str, str], Row]] = {
    # --- the console (console/access.py); a 302 other than to the log-in page is the
    # page's own redirect after an accepted request (PRG), 405 a write on a read-only page
    ("", "GET"): _console(200, 200, 200),
    ("", "POST"): _console(405, 405, 405),
    ("login/", "GET"): (200, 302, 302, 302, 200, 200, 200),  # signed-in users go to the overview
    ("login/", "POST"): (200, 302, 302, 302, 200, 200, 200),  # an empty form: "this field is required"
    ("logout/", "GET"): _console(405, 405, 405),  # by POST only (a link must not sign out)
    ("logout/", "POST"): _console(LOGIN, LOGIN, LOGIN),
    ("settings/", "GET"): _console(403, 200, 200),
    ("settings/", "POST"): _console(403, 302, 302),
    ("settings/test-connection/", "GET"): _console(403, 302, 302),
    ("settings/test-connection/", "POST"): _console(403, 200, 200),
    ("settings/send-test/", "GET"): _console(403, 302, 302),
    ("settings/send-test/", "POST"): _console(403, 200, 200),
    ("settings/dkim/generate/", "GET"): _console(403, 302, 302),
    ("settings/dkim/generate/", "POST"): _console(403, 302, 302),
    ("settings/dkim/check/", "GET"): _console(403, 302, 302),
    ("settings/dkim/check/", "POST"): _console(403, 200, 200),
    # Connect account with nothing saved: back to the settings page, saying what to save first
    ("settings/oauth2/connect/", "GET"): _console(403, 302, 302),
    ("settings/oauth2/connect/", "POST"): _console(403, 302, 302),
    ("settings/oauth2/callback/", "GET"): _console(403, 302, 302),
    ("settings/oauth2/callback/", "POST"): _console(405, 405, 405),
    ("deliveries/", "GET"): _console(200, 200, 200),
    ("deliveries/", "POST"): _console(405, 405, 405),
    # a mail's body (HTML, raw source, files) needs the body permission: settings and admin
    # have it, a viewer only when an admin grants it (tests/console/test_privacy.py); the
    # message and captured pages themselves show a viewer metadata and the timeline
    ("deliveries/<str:public_id>/", "GET"): _console(200, 200, 200),
    ("deliveries/<str:public_id>/", "POST"): _console(405, 405, 405),
    ("deliveries/<str:public_id>/html/", "GET"): _console(403, 200, 200),
    ("deliveries/<str:public_id>/html/", "POST"): _console(405, 405, 405),
    ("deliveries/<str:public_id>/raw/", "GET"): _console(403, 200, 200),
    ("deliveries/<str:public_id>/raw/", "POST"): _console(405, 405, 405),
    ("held/", "GET"): _console(200, 200, 200),
    ("held/", "POST"): _console(403, 200, 200),
    ("held/action/", "GET"): _console(302, 302, 302),
    ("held/action/", "POST"): _console(403, 302, 302),
    ("suppressions/", "GET"): _console(200, 200, 200),
    ("suppressions/", "POST"): _console(403, 200, 200),
    ("suppressions/export.csv", "GET"): _console(200, 200, 200),
    ("suppressions/export.csv", "POST"): _console(405, 405, 405),
    ("suppressions/remove/", "GET"): _console(302, 302, 302),
    ("suppressions/remove/", "POST"): _console(403, 302, 302),
    ("bounces/", "GET"): _console(200, 200, 200),
    ("bounces/", "POST"): _console(405, 405, 405),
    ("doctor/", "GET"): _console(200, 200, 200),
    ("doctor/", "POST"): _console(403, 200, 200),
    ("doctor/run/", "GET"): _console(302, 302, 302),
    ("doctor/run/", "POST"): _console(403, 302, 302),
    ("captured/", "GET"): _console(200, 200, 200),
    ("captured/", "POST"): _console(405, 405, 405),
    ("captured/<str:captured_id>/", "GET"): _console(200, 200, 200),
    ("captured/<str:captured_id>/", "POST"): _console(405, 405, 405),
    ("captured/<str:captured_id>/html/", "GET"): _console(403, 200, 200),
    ("captured/<str:captured_id>/html/", "POST"): _console(405, 405, 405),
    ("captured/<str:captured_id>/raw/", "GET"): _console(403, 200, 200),
    ("captured/<str:captured_id>/raw/", "POST"): _console(405, 405, 405),
    # a file of a message or a captured mail: read as the bodies are (not by a viewer)
    ("deliveries/<str:public_id>/attachments/<int:index>/", "GET"): _console(403, 200, 200),
    ("deliveries/<str:public_id>/attachments/<int:index>/", "POST"): _console(405, 405, 405),
    ("captured/<str:captured_id>/attachments/<int:index>/", "GET"): _console(403, 200, 200),
    ("captured/<str:captured_id>/attachments/<int:index>/", "POST"): _console(405, 405, 405),
    # templates: everyone reads and previews them; the settings role saves and sends tests
    ("templates/", "GET"): _console(200, 200, 200),
    ("templates/", "POST"): _console(403, 200, 200),  # an empty form: "this field is required"
    ("templates/preview/", "GET"): _console(302, 302, 302),
    ("templates/preview/", "POST"): _console(200, 200, 200),
    ("templates/<str:name>/", "GET"): _console(200, 200, 200),
    ("templates/<str:name>/", "POST"): _console(403, 200, 200),
    ("templates/<str:name>/diff/", "GET"): _console(200, 200, 200),
    ("templates/<str:name>/diff/", "POST"): _console(405, 405, 405),
    ("templates/<str:name>/send-test/", "GET"): _console(302, 302, 302),
    ("templates/<str:name>/send-test/", "POST"): _console(403, 302, 302),
    ("templates/<str:name>/delete/", "GET"): _console(302, 302, 302),  # a GET deletes nothing
    ("templates/<str:name>/delete/", "POST"): _console(403, 302, 302),
    ("people/", "GET"): _console(200, 200, 200),
    ("people/", "POST"): _console(403, 302, 302),
    ("people/members/<int:pk>/", "GET"): _console(200, 200, 200),
    ("people/members/<int:pk>/", "POST"): _console(403, 200, 200),
    ("people/groups/<int:pk>/", "GET"): _console(200, 200, 200),
    ("people/groups/<int:pk>/", "POST"): _console(403, 200, 200),
    # one's own language and calendar: every role, for itself (an empty post shows the form)
    ("account/", "GET"): _console(200, 200, 200),
    ("account/", "POST"): _console(200, 200, 200),
    ("logs/", "GET"): _console(200, 200, 200),
    ("logs/", "POST"): _console(405, 405, 405),
    # admin only, even to look
    ("api-keys/", "GET"): _console(403, 403, 200),
    ("api-keys/", "POST"): _console(403, 403, 200),
    ("api-keys/<int:pk>/revoke/", "GET"): _console(403, 403, 302),  # a GET revokes nothing
    ("api-keys/<int:pk>/revoke/", "POST"): _console(403, 403, 302),
    ("users/", "GET"): _console(403, 403, 200),
    ("users/", "POST"): _console(403, 403, 200),
    ("users/<int:pk>/", "GET"): _console(403, 403, 200),
    ("users/<int:pk>/", "POST"): _console(403, 403, 200),
    # alerts: everyone reads the history and the destinations (without tokens); "settings"
    # adds (an empty form: "this field is required"), removes and sends a test; a GET of an
    # action changes nothing
    ("alerts/", "GET"): _console(200, 200, 200),
    ("alerts/", "POST"): _console(403, 200, 200),
    ("alerts/destinations/remove/", "GET"): _console(302, 302, 302),
    ("alerts/destinations/remove/", "POST"): _console(403, 302, 302),
    ("alerts/test/", "GET"): _console(302, 302, 302),
    ("alerts/test/", "POST"): _console(403, 302, 302),
    # canaries: everyone reads them; "settings" adds (an empty form: "this field is
    # required"), changes, runs and deletes them; a GET of an action changes nothing
    ("canaries/", "GET"): _console(200, 200, 200),
    ("canaries/", "POST"): _console(403, 200, 200),
    ("canaries/<int:pk>/", "GET"): _console(200, 200, 200),
    ("canaries/<int:pk>/", "POST"): _console(403, 200, 200),
    ("canaries/<int:pk>/run/", "GET"): _console(302, 302, 302),
    ("canaries/<int:pk>/run/", "POST"): _console(403, 302, 302),
    ("canaries/<int:pk>/delete/", "GET"): _console(302, 302, 302),
    ("canaries/<int:pk>/delete/", "POST"): _console(403, 302, 302),
    # --- the API: scope read reads, scope send sends and changes, scope admin does all;
    # a key without the scope is refused as no key at all (401, tests/api)
    ("api/v1/messages", "GET"): _api(403, 200, 200),
    ("api/v1/messages", "POST"): _api(202, 403, 202),
    ("api/v1/messages/batch", "POST"): _api(202, 403, 202),
    ("api/v1/messages/<public_id>", "GET"): _api(403, 200, 200),
    ("api/v1/messages/<public_id>/requeue", "POST"): _api(200, 403, 200),
    ("api/v1/messages/<public_id>/cancel", "POST"): _api(200, 403, 200),
    ("api/v1/recipients/suggest", "GET"): _api(403, 200, 200),
    ("api/v1/suppressions", "GET"): _api(403, 200, 200),
    ("api/v1/suppressions", "POST"): _api(201, 403, 201),
    ("api/v1/suppressions/<address>", "DELETE"): _api(204, 403, 204),
    ("api/v1/bounces", "GET"): _api(403, 200, 200),
    ("api/v1/doctor", "POST"): _api(403, 200, 200),  # choosing a recipient or sending needs send too
    # templates: send writes them (they decide what is sent), read lists and previews them
    ("api/v1/templates", "POST"): _api(201, 403, 201),
    ("api/v1/templates", "GET"): _api(403, 200, 200),
    ("api/v1/templates/<name>", "GET"): _api(403, 200, 200),
    ("api/v1/templates/<name>", "PUT"): _api(200, 403, 200),
    ("api/v1/templates/<name>", "DELETE"): _api(204, 403, 204),
    ("api/v1/templates/<name>/render", "POST"): _api(403, 200, 200),
    # canaries: registering one (with an IMAP password) is an admin's; a run sends mail
    ("api/v1/canaries", "POST"): _api(403, 403, 201),
    ("api/v1/canaries", "GET"): _api(403, 200, 200),
    ("api/v1/canaries/<canary_id>/run", "POST"): _api(202, 403, 202),
    ("api/v1/canaries/<canary_id>/runs", "GET"): _api(403, 200, 200),
    # the schema and its documentation page are public (they describe, they hold no data);
    # ninja's views answer any method with the same document
    ("api/openapi.json", "GET"): PUBLIC,
    ("api/openapi.json", "POST"): PUBLIC,
    ("api/docs", "GET"): PUBLIC,
    ("api/docs", "POST"): PUBLIC,
    ("api/", "GET"): (404,) * 7,
    ("api/", "POST"): (404,) * 7,
    # --- machines: monitoring needs no login and gets figures only (outbox/metrics_healthz.py); 503
    # from /healthz while no worker has sent a heartbeat
    ("metrics", "GET"): PUBLIC,
    ("metrics", "POST"): (405,) * 7,
    ("healthz", "GET"): (503,) * 7,
    ("healthz", "POST"): (405,) * 7,
    # provider webhooks authenticate by signature (tests/security/test_webhook_signatures.py),
    # never by session or API key: here unconfigured, so refused for everyone
    ("webhooks/<str:provider>/tracking/", "GET"): (405,) * 7,
    ("webhooks/<str:provider>/tracking/", "POST"): (400,) * 7,
}


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), str(pattern.name)


def _schema_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def routes() -> list[tuple[str, str, str]]:
    """(route, URL name, method) for every leaf of the URL map: the API's methods from its
    schema, GET and POST for every other route (a write refused is part of the matrix)."""
    operations = api.get_openapi_schema()["paths"]
    seen: dict[tuple[str, str], str] = {}
    for route, name in _walk(get_resolver().url_patterns):
        methods = [m.upper() for m in operations.get(_schema_path(route), {})] or ["GET", "POST"]
        for method in methods:
            seen.setdefault((route, method), name)
    return [(route, name, method) for (route, method), name in seen.items()]


ROUTES: Final = routes()

# which object a route's parameter names (pk means a different row on each page)
_PK: Final = {
    "member": "member",
    "group": "group",
    "apikey_revoke": "apikey",
    "user": "user",
    "canary": "canary_id",
    "canary_run": "canary_id",
    "canary_delete": "canary_id",
}
_BODIES: Final[dict[tuple[str, str], object]] = {
    ("api/v1/messages", "POST"): {"to": ["a@example.com"], "subject": "Hi", "text": "Hello"},
    ("api/v1/messages/batch", "POST"): {
        "messages": [{"to": ["a@example.com"], "subject": "Hi", "text": "Hi"}]
    },
    ("api/v1/suppressions", "POST"): {"address": "new@example.com"},
    ("api/v1/doctor", "POST"): {"only": ["config"]},
    ("api/v1/templates", "POST"): {"name": "new-one", "subject": "Hi {{ name }}", "text": "Hello"},
    ("api/v1/templates/<name>", "PUT"): {"subject": "Hi again", "text": "Hello"},
    ("api/v1/templates/<name>/render", "POST"): {"variables": {"name": "Ann"}},
    ("api/v1/canaries", "POST"): {
        "address": "canary@example.com",
        "imap_host": "127.0.0.1",
        "imap_user": "canary@example.com",
        "imap_password": "imap-password-1",
    },
}
_QUERIES: Final = {"api/v1/recipients/suggest": "?q=m"}


def url_for(route: str, name: str, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        param = match.group(1)
        return world.args[_PK[name] if param == "pk" else param]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route) + _QUERIES.get(route, "")


def call(client: Client, method: str, route: str, url: str) -> HttpResponseBase:
    body = _BODIES.get((route, method))
    if route.startswith("api/"):
        data = json.dumps(body) if body is not None else ""
        return client.generic(method, url, data, content_type="application/json")
    return client.generic(method, url, "", content_type="application/x-www-form-urlencoded")


def observed(response: HttpResponseBase) -> Status:
    if response.status_code == 302 and response["Location"].split("?")[0] == "/login/":
        return LOGIN
    return response.status_code


def _snapshot() -> tuple[int, int, int, int, int, int, int, int]:
    """Counts that a refused call must leave as they were."""
    return (
        Template.objects.count(),
        Version.objects.count(),
        Message.objects.count(),
        Suppression.objects.count(),
        ApiKey.objects.filter(revoked_at__isnull=True).count(),
        User.objects.filter(is_active=True).count(),
        Member.objects.count(),
        MemberGroup.objects.count(),
    )


@pytest.mark.parametrize(("route", "name", "method"), ROUTES, ids=[f"{m} /{r}" for r, _, m in ROUTES])
def test_it_answers_each_caller_as_the_table_says(
    route: str, name: str, method: str, world: World, request: pytest.FixtureRequest
) -> None:
    statuses: list[Status] = []
    for identity in IDENTITIES:
        # each caller on the rows as they were: one caller's revoke or delete must not turn
        # the next one's answer into a 404
        with transaction.atomic():
            before = _snapshot()
            response = call(world.clients[identity], method, route, url_for(route, name, world))
            status = observed(response)
            if method == "GET" or status in (LOGIN, 401, 403, 405):
                # a read or a refusal changes nothing (logout's redirect is its success)
                assert _snapshot() == before or name == "logout", (identity, method, route)
            transaction.set_rollback(True)
        statuses.append(status)
    expected = TABLE.get((route, method))
    assert expected is not None, (
        f"no entry for {method} /{route}; it answered: ({route!r}, {method!r}): {tuple(statuses)!r}"
    )
    assert tuple(statuses) == expected, dict(zip(IDENTITIES, statuses, strict=True))
    report(request, "authorization matrix", routes_x_methods=1, calls=len(statuses))


def test_every_entry_of_the_table_names_a_route_that_exists() -> None:
    assert set(TABLE) - {(route, method) for route, _, method in ROUTES} == set()


def test_it_walks_every_operation_of_the_api_schema() -> None:
    operations = {
        (path, method.upper()) for path, ops in api.get_openapi_schema()["paths"].items() for method in ops
    }
    walked = {(_schema_path(route), method) for route, _, method in ROUTES}
    assert operations <= walked
    assert len(operations) >= 11  # a walk that found nothing would pass everything


def test_a_revoked_key_opens_no_api_operation_and_the_header_form_is_the_same_key(world: World) -> None:
    """X-Api-Key is the other way to send a key (api/auth.py): the same scopes apply, and a
    revoked key is refused by every operation."""
    row, plain = ApiKey.issue("to revoke", ["admin"])
    header = Client(HTTP_X_API_KEY=plain)
    api_routes = [(route, name, method) for route, name, method in ROUTES if route.startswith("api/v1/")]
    answers = {}
    for route, name, method in api_routes:
        with transaction.atomic():
            answers[(route, method)] = call(header, method, route, url_for(route, name, world)).status_code
            transaction.set_rollback(True)
    assert answers == {key: TABLE[key][IDENTITIES.index("key:admin")] for key in answers}
    ApiKey.objects.filter(pk=row.pk).update(revoked_at=row.created_at)
    refused = {call(header, m, r, url_for(r, n, world)).status_code for r, n, m in api_routes}
    assert refused == {401}

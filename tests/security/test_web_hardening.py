"""The web side of issue #8's security list, over the whole URL map: CSRF on every form
(every route outside the key-authenticated API and the signed webhooks refuses a POST
without the token; every form and htmx request on every page carries it), the security
headers on every HTML answer (Content-Security-Policy, X-Frame-Options, nosniff), the
session cookie's flags (HttpOnly, SameSite, Secure under POSTWARDEN_HTTPS, checked in a
process that reads the real setting), and failed log-in throttling that never says which
accounts exist. tests/console/ has the per-view forms of some of these; this walks them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.http import HttpResponse, HttpResponseBase
from django.test import Client
from django.urls import Resolver404, resolve

from postwarden.console import throttle
from tests.security.conftest import PASSWORD, World
from tests.security.test_authorization_matrix import ROUTES, url_for

pytestmark = pytest.mark.django_db
#: routes that take no cookie-borne credential, so CSRF cannot apply: API keys in a header,
#: provider signatures (tests/security/test_webhook_signatures.py)
NOT_COOKIE_AUTHENTICATED = ("api/", "webhooks/")


def cookie_routes() -> list[tuple[str, str]]:
    found = {(route, name) for route, name, _ in ROUTES if not route.startswith(NOT_COOKIE_AUTHENTICATED)}
    return sorted(found)


@pytest.mark.parametrize(("route", "name"), cookie_routes(), ids=[f"/{r}" for r, _ in cookie_routes()])
def test_it_refuses_a_post_without_the_csrf_token_on_every_cookie_route(
    route: str, name: str, world: World
) -> None:
    # an admin's session, the strongest cookie there is; every method that may write
    session = world.clients["admin"].cookies
    client = Client(enforce_csrf_checks=True)
    client.cookies = session
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(url_for(route, name, world), {"action": "delete"})
        assert response.status_code == 403, (method, route, response.status_code)
        assert b"CSRF" in response.content, (method, route)


def test_it_refuses_a_post_whose_token_comes_from_another_origin(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies = world.clients["admin"].cookies
    client.get("/suppressions/")
    token = client.cookies["csrftoken"].value
    form = {"address": "x@example.com", "csrfmiddlewaretoken": token}
    evil = client.post("/suppressions/", form, HTTP_ORIGIN="https://evil.example")
    assert evil.status_code == 403
    same = client.post("/suppressions/", form, HTTP_ORIGIN="http://testserver")
    assert (same.status_code, same["Location"]) == (302, "/suppressions/")


class _Forms(HTMLParser):
    """The post forms and htmx writes of a page, and whether each carries the token."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[dict[str, object]] = []
        self.forms: list[dict[str, object]] = []
        self.htmx: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            form: dict[str, object] = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action"),
                "token": False,
            }
            self.open.append(form)
            self.forms.append(form)
        if tag == "input" and a.get("name") == "csrfmiddlewaretoken" and self.open:
            self.open[-1]["token"] = True
        for attr in ("hx-post", "hx-put", "hx-patch", "hx-delete"):
            if a.get(attr):
                carried = bool(self.open) or "csrfmiddlewaretoken" in (a.get("hx-include") or "")
                self.htmx.append((str(a[attr]), carried))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open:
            self.open.pop()


def test_every_form_and_htmx_write_on_every_page_carries_the_token(world: World) -> None:
    posts: set[str] = set()
    pages = 0
    for route, name, method in ROUTES:
        if method != "GET" or route.startswith(NOT_COOKIE_AUTHENTICATED) or name == "logout":
            continue
        for identity in ("anonymous", "admin"):
            url = url_for(route, name, world)
            response = world.clients[identity].get(url)
            if not response["Content-Type"].startswith("text/html"):
                continue
            pages += 1
            parsed = _Forms()
            parsed.feed(response.content.decode())
            for form in parsed.forms:
                if form["method"] == "post":
                    assert form["token"], (route, form)
                    posts.add(str(form["action"] or url))
            for target, carried in parsed.htmx:
                assert carried, (route, target)
                posts.add(target)
    # every form posts to a route of the map (which the test above shows refuses no token)
    for target in posts:
        try:
            resolve(target.split("?")[0])
        except Resolver404:
            pytest.fail(f"a form posts to {target}, which is no route")
    assert pages >= 25
    assert len(posts) >= 10


def _html_answers(world: World) -> dict[str, HttpResponseBase]:
    answers: dict[str, HttpResponseBase] = {}
    for route, name, method in ROUTES:
        if method != "GET":
            continue
        for identity in ("anonymous", "viewer", "admin"):
            answers[f"{identity} /{route}"] = world.clients[identity].get(url_for(route, name, world))
    answers["404"] = world.clients["admin"].get("/no/such/page/")
    answers["405"] = world.clients["admin"].post("/deliveries/")
    answers["login error"] = Client().post("/login/", {"username": "x@example.com", "password": "nope"})
    csrf = Client(enforce_csrf_checks=True)
    answers["csrf refusal"] = csrf.post("/login/", {"username": "x@example.com", "password": "nope"})
    assert answers["csrf refusal"].status_code == 403
    throttled = Client()
    for _ in range(throttle.ACCOUNT_LIMIT + 1):
        answers["throttled"] = throttled.post("/login/", {"username": "y@example.com", "password": "nope"})
    assert answers["throttled"].status_code == 429
    return answers


def test_every_html_answer_has_the_security_headers(world: World) -> None:
    html = 0
    for label, response in _html_answers(world).items():
        assert response.get("X-Content-Type-Options") == "nosniff", label
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        html += 1
        csp = response["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert "'unsafe-inline'" not in directives.get("script-src", directives.get("default-src", [])), label
        assert directives["default-src"] in (["'self'"], ["'none'"]), label
        if "sandbox" in directives:
            # a mail's own HTML, framed by the console's page only: nothing runs or loads
            assert directives["default-src"] == ["'none'"], label
            assert directives["frame-ancestors"] == ["'self'"], label
            assert response["X-Frame-Options"] == "SAMEORIGIN", label
        else:
            assert directives["frame-ancestors"] == ["'none'"], label
            assert response["X-Frame-Options"] == "DENY", label
    assert html >= 60


def test_the_mail_views_that_are_not_html_cannot_be_sniffed_into_html(world: World) -> None:
    client = world.clients["admin"]
    for url in (f"/deliveries/{world.args['public_id']}/raw/", f"/captured/{world.args['captured_id']}/raw/"):
        response = client.get(url)
        assert response["Content-Type"].startswith("text/plain"), url
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"]
)
def test_it_never_sends_a_signed_in_user_off_the_site(target: str, world: World) -> None:
    response = Client().post(
        f"/login/?next={target}", {"username": "admin@example.com", "password": PASSWORD, "next": target}
    )
    assert (response.status_code, response["Location"]) == (302, "/")


def test_the_session_cookie_is_httponly_and_samesite_and_changes_at_log_in(world: World) -> None:
    client = Client()
    client.get("/login/")
    assert client.cookies["csrftoken"]["samesite"] == "Lax"
    before = client.cookies.get("sessionid")
    response = client.post("/login/", {"username": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert session["secure"] == ""  # plain HTTP unless POSTWARDEN_HTTPS says otherwise
    assert before is None or before.value != session.value
    old = session.value
    assert client.post("/logout/").status_code == 302
    stale = Client()
    stale.cookies["sessionid"] = old
    assert stale.get("/").status_code == 302  # the session ended on the server, not only in the browser


HTTPS_PROBE = """
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from postwarden.accounts.bootstrap import create_admin
create_admin("a@example.com", "correct horse battery staple")
client = Client(HTTP_X_FORWARDED_PROTO="https")
login = client.get("/login/")
done = client.post("/login/", {"username": "a@example.com", "password": "correct horse battery staple"})
print(json.dumps({
    "status": done.status_code,
    "session": {k: done.cookies["sessionid"][k] for k in ("secure", "httponly", "samesite")},
    "csrf": {k: login.cookies["csrftoken"][k] for k in ("secure", "samesite")},
    "hsts": login.get("Strict-Transport-Security"),
}))
"""


@pytest.mark.parametrize("https", ["true", "false"])
def test_the_cookies_are_secure_when_postwarden_https_is_set(https: str, tmp_path: Path) -> None:
    """In a process of its own: the flag is read when Django's settings load."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="postwarden.settings",
        POSTWARDEN_HTTPS=https,
        POSTWARDEN_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        POSTWARDEN_SECRET_KEY="https-probe-secret-key-0123456789abcdef",
    )
    done = subprocess.run(
        [sys.executable, "-c", HTTPS_PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    secure = https == "true"
    assert seen == {
        "status": 302,
        "session": {"secure": True if secure else "", "httponly": True, "samesite": "Lax"},
        "csrf": {"secure": True if secure else "", "samesite": "Lax"},
        "hsts": "max-age=31536000" if secure else None,
    }


def _fail(client: Client, username: str, address: str) -> HttpResponseBase:
    return client.post("/login/", {"username": username, "password": "wrong password!"}, REMOTE_ADDR=address)


def _words(response: HttpResponseBase) -> str:
    """The page without its CSRF token and the typed address (which differ by request)."""
    import re

    assert isinstance(response, HttpResponse)
    text = response.content.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return re.sub(r'value="[^"]*@example\.com"', "", text)


def test_a_lock_out_reads_the_same_for_an_account_that_does_not_exist(world: World) -> None:
    """Failures and the lock-out look alike for a real and an unknown account: the same
    status, the same words, the same Retry-After (no way to learn which accounts exist)."""
    client = Client()
    answers = {}
    for username in ("admin@example.com", "nobody@example.com"):
        failures = [_fail(client, username, "192.0.2.1") for _ in range(throttle.ACCOUNT_LIMIT)]
        assert {r.status_code for r in failures} == {200}
        assert _words(failures[0]) == _words(failures[-1])
        answers[username] = (failures[0], _fail(client, username, "192.0.2.2"))
    (real_fail, real_locked), (none_fail, none_locked) = answers.values()
    assert _words(real_fail) == _words(none_fail)
    assert (real_locked.status_code, none_locked.status_code) == (429, 429)
    assert _words(real_locked) == _words(none_locked)
    assert abs(int(real_locked["Retry-After"]) - int(none_locked["Retry-After"])) <= 1
    # the right password during the lock-out does not log in
    right = client.post(
        "/login/", {"username": "admin@example.com", "password": PASSWORD}, REMOTE_ADDR="192.0.2.3"
    )
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_forged_forwarded_for_header_does_not_reset_the_address_budget(world: World) -> None:
    client = Client()
    for i in range(throttle.ADDRESS_LIMIT):
        client.post(
            "/login/",
            {"username": f"guess{i}@example.com", "password": "guess guess"},
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        )
    refused = client.post(
        "/login/",
        {"username": "admin@example.com", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="203.0.113.250",
    )
    assert refused.status_code == 429


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") or (a.get("href") if tag == "link" else None)
        if url:
            self.urls.append(url)
        elif tag == "script" and a.get("type") != "application/json":
            self.inline_scripts += 1


def test_the_api_docs_page_runs_no_inline_script_and_loads_only_from_this_origin(db: None) -> None:
    """The console's policy (script-src 'self', no inline) holds on /api/docs too, and the
    page still works: tests/security/test_api_docs_browser.py renders it in chromium."""
    client = Client()
    page = client.get("/api/docs")
    parsed = _Assets()
    parsed.feed(page.content.decode())
    assert parsed.inline_scripts == 0
    assert len(parsed.urls) >= 4
    for url in parsed.urls:
        assert url.startswith("/static/ninja/"), url
        assert client.get(url).status_code == 200, url


def test_the_api_schema_is_json_without_a_repeated_key(db: None) -> None:
    """JSON parsers disagree on a repeated key (Python keeps the last, Swagger UI refuses
    the whole schema): every object of the schema has each key once."""

    def once(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    schema = json.loads(Client().get("/api/openapi.json").content, object_pairs_hook=once)
    assert schema["paths"]["/api/v1/messages"]["post"]["responses"]["400"]

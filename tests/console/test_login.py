"""Log in, throttling per account and per address (shared by every process: rows in the
database), log out by POST only, CSRF on the form."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from postwarden.accounts.models import User
from postwarden.console import throttle
from postwarden.console.models import LoginThrottle
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/login/"


def _post(client: Client, username: str, password: str, address: str = "192.0.2.10") -> object:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_it_logs_in_with_the_right_password_and_lands_on_the_overview(admin: User) -> None:
    client = Client()
    response = client.post(LOGIN, {"username": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:overview")
    assert client.get("/").status_code == 200


def test_it_says_wrong_password_without_saying_which_part(admin: User) -> None:
    response = Client().post(LOGIN, {"username": "alice@example.com", "password": "nope nope nope"})
    assert response.status_code == 200
    assert "The email address or the password is wrong." in response.content.decode()


def test_it_locks_an_account_after_five_failures_even_for_the_right_password(admin: User) -> None:
    client = Client()
    for _ in range(throttle.ACCOUNT_LIMIT):
        assert _post(client, "alice@example.com", "wrong password!").status_code == 200  # type: ignore[attr-defined]
    response = _post(client, "alice@example.com", PASSWORD)
    assert response.status_code == 429  # type: ignore[attr-defined]
    assert "Too many failed log-ins. Try again in 15 minute(s)." in response.content.decode()  # type: ignore[attr-defined]
    assert int(response["Retry-After"]) <= 15 * 60  # type: ignore[index]
    assert "_auth_user_id" not in client.session


def test_it_lets_the_account_in_again_after_the_window(admin: User) -> None:
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(throttle.ACCOUNT_LIMIT):
            _post(client, "alice@example.com", "wrong password!")
        assert _post(client, "alice@example.com", PASSWORD).status_code == 429  # type: ignore[attr-defined]
        clock.shift(throttle.WINDOW.total_seconds() + 1)
        assert _post(client, "alice@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    assert not LoginThrottle.objects.filter(key="account:alice@example.com").exists()


def test_it_throttles_an_address_that_guesses_across_many_accounts(admin: User) -> None:
    client = Client()
    for i in range(throttle.ADDRESS_LIMIT):
        _post(client, f"user{i}@example.com", "guess guess", address="198.51.100.7")
    assert _post(client, "alice@example.com", PASSWORD, address="198.51.100.7").status_code == 429  # type: ignore[attr-defined]
    # the same account from another address is not affected
    assert _post(Client(), "alice@example.com", PASSWORD, address="203.0.113.9").status_code == 302  # type: ignore[attr-defined]


def test_it_counts_failures_in_the_database_so_every_process_sees_them(admin: User) -> None:
    throttle.record_failure("alice@example.com", "192.0.2.1")
    throttle.record_failure("alice@example.com", "192.0.2.1")
    assert LoginThrottle.objects.get(key=f"user:{admin.pk}").failures == 2
    assert LoginThrottle.objects.get(key="ip:192.0.2.1").failures == 2


def test_it_refuses_a_login_post_without_the_csrf_token(admin: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 403


def test_it_logs_out_by_post_only(admin_client: Client) -> None:
    assert admin_client.get("/logout/").status_code == 405
    response = admin_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert admin_client.get("/").status_code == 302


def test_it_refuses_a_disabled_user(admin: User) -> None:
    User.objects.filter(pk=admin.pk).update(is_active=False)
    response = Client().post(LOGIN, {"username": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in response.client.session


def test_it_sends_the_security_headers_on_the_login_page(db: None) -> None:
    response = Client().get(LOGIN)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


#: spellings Django's log-in form turns into alice@example.com (NFKC, stripped) and so logs in
SAME_ACCOUNT = [
    "\uff41\uff4c\uff49\uff43\uff45@example.com",  # fullwidth ａｌｉｃｅ
    "alice\uff20example.com",  # fullwidth commercial at
    "  alice@example.com ",
    "\u1d43lice@example.com",  # modifier letter small a
]


@pytest.mark.parametrize("spelling", SAME_ACCOUNT)
def test_the_lock_holds_for_every_spelling_that_logs_in_as_the_account(admin: User, spelling: str) -> None:
    # each spelling does log in when the account is not locked: it is the same account
    free = Client()
    assert _post(free, spelling, PASSWORD, address="192.0.2.99").status_code == 302  # type: ignore[attr-defined]
    client = Client()
    for _ in range(throttle.ACCOUNT_LIMIT):
        assert _post(client, "alice@example.com", "wrong password!").status_code == 200  # type: ignore[attr-defined]
    response = _post(client, spelling, PASSWORD, address="198.51.100.7")
    assert response.status_code == 429  # type: ignore[attr-defined]
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("spelling", SAME_ACCOUNT)
def test_failures_under_any_spelling_count_for_the_account(admin: User, spelling: str) -> None:
    client = Client()
    for index in range(throttle.ACCOUNT_LIMIT):
        # from different addresses, so only the account's count can lock
        assert _post(client, spelling, "wrong password!", address=f"192.0.2.{index + 20}").status_code == 200  # type: ignore[attr-defined]
    assert _post(client, "alice@example.com", PASSWORD, address="198.51.100.8").status_code == 429  # type: ignore[attr-defined]
    assert LoginThrottle.objects.get(key__startswith="user:").failures == throttle.ACCOUNT_LIMIT

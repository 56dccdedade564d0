"""POSTWARDEN_ALERT_URLS read and shown: space-separated apprise URLs; a value that is no
URL is refused naming the scheme only; apprise's own check for a service it does not
know; a destination is shown by scheme and host, never with its token."""

from __future__ import annotations

import pytest

from postwarden.alerts.destinations import InvalidUrl, check, clean, label
from postwarden.core.config.model import Origin
from postwarden.core.config.resolve import ConfigError, Layer, resolve

TOKEN = "zq8Xk2Lm9Pw4Rt7Yv1"


def test_the_urls_are_read_space_separated_as_secrets() -> None:
    settings = resolve(
        Layer(Origin.ENV, {"POSTWARDEN_ALERT_URLS": f" mmost://chat.example.com/{TOKEN}  json://h:8080/p,q "})
    )
    assert [u.reveal() for u in settings.alerts.urls] == [
        f"mmost://chat.example.com/{TOKEN}",
        "json://h:8080/p,q",
    ]
    assert TOKEN not in settings.values["POSTWARDEN_ALERT_URLS"]


@pytest.mark.parametrize("value", [f"chat.example.com/{TOKEN}", f"://x/{TOKEN}", f"mm ost://x/{TOKEN}"])
def test_a_value_that_is_no_url_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(Layer(Origin.ENV, {"POSTWARDEN_ALERT_URLS": value}))
    assert "POSTWARDEN_ALERT_URLS" in str(caught.value)
    assert "is not an apprise URL" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_apprise_refuses_a_service_it_does_not_know() -> None:
    check(f"mmost://chat.example.com/{TOKEN}")
    with pytest.raises(InvalidUrl, match="apprise does not accept this nosuch:// URL") as caught:
        check(f"nosuch://chat.example.com/{TOKEN}")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"mmost://chat.example.com:8065/{TOKEN}", "mmost: chat.example.com:8065 ••••"),
        (f"json://user:{TOKEN}@hooks.example.com/in", "json: hooks.example.com ••••"),
        (f"tgram://{TOKEN}/12345", "tgram: ••••"),
        (f"slack://T1JJ3T3L2/A1BRTD4JD/{TOKEN}", "slack: ••••"),
        (f"json://[::1]:8080/{TOKEN}", "json: ::1:8080 ••••"),
    ],
)
def test_a_label_keeps_scheme_and_host(url: str, shown: str) -> None:
    assert label(url) == shown


def test_a_failure_text_loses_its_url_paths_and_credentials() -> None:
    text = f"POST https://hooks.slack.com/services/{TOKEN} failed; token={TOKEN}"
    assert TOKEN not in clean(text)
    assert clean(text).startswith("POST https://hooks.slack.com/… failed; token=••••")

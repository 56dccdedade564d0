"""A Secret never renders its value: not by repr, str, format, %-formatting or logging,
not inside the settings records that carry it, not in a traceback that shows the local
variables holding it. Only reveal() gives the value; pickling keeps it (multiprocessing).

An independent check beside the sealer's repr (test_sealing.py) and the whole-service
sweeps (tests/security): those catch a leak only where a Secret happens to be rendered."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest

from postwarden.core.config.model import Provider, ProviderSettings, Settings, SmtpSettings
from postwarden.core.secrets import EMPTY, MASK, Secret

VALUE = "Pw-d1st1nct1ve-secret-9f3e"


def renderings(secret: Secret) -> dict[str, str]:
    return {
        "repr": repr(secret),
        "str": str(secret),
        "f-string": f"{secret}",
        "format spec": f"{secret:>40}",
        "format()": format(secret, "s"),
        "%s": "%s" % (secret,),  # noqa: UP031  # the logging module formats this way
        "%r": "%r" % (secret,),  # noqa: UP031
        "in a list": repr([secret]),
        "in a dict": str({"password": secret}),
    }


def test_every_rendering_is_the_mask() -> None:
    for how, text in renderings(Secret(VALUE)).items():
        assert text.strip() in (
            f"Secret('{MASK}')",
            f"[Secret('{MASK}')]",
            f"{{'password': Secret('{MASK}')}}",
        ), (
            how,
            text,
        )


def test_an_empty_secret_renders_as_empty_and_says_so() -> None:
    for secret in (Secret(), Secret(None), Secret(""), EMPTY):
        assert (repr(secret), str(secret), f"{secret}") == ("Secret('')", "Secret('')", "Secret('')")
        assert (secret.is_set, bool(secret), secret.state, secret.masked(), secret.reveal()) == (
            False,
            False,
            "empty",
            "",
            "",
        )


def test_only_reveal_gives_the_value() -> None:
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert (secret.is_set, bool(secret), secret.state) == (True, True, "set")
    assert VALUE not in "".join(renderings(secret).values())


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("short", MASK),
        ("elevenchars", MASK),  # below twelve characters no tail is shown
        ("twelve-chars", MASK + "hars"),
        (VALUE, MASK + "9f3e"),
    ],
)
def test_masked_shows_at_most_the_tail_of_a_long_secret(value: str, masked: str) -> None:
    assert Secret(value).masked() == masked


def test_settings_records_holding_secrets_render_only_masks() -> None:
    settings = Settings(
        smtp=SmtpSettings(host="smtp.example.com", user="ops", password=Secret(VALUE)),
        provider=ProviderSettings(
            name=Provider.SENDGRID, secrets={"SENDGRID_API_KEY": Secret(VALUE + "-key")}
        ),
    )
    shown = repr(settings) + str(settings.smtp) + f"{settings.provider}"
    assert VALUE not in shown
    assert f"password=Secret('{MASK}')" in shown
    assert f"'SENDGRID_API_KEY': Secret('{MASK}')" in shown


def test_a_log_record_with_a_secret_argument_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("postwarden.test").info("login with %s and %r", Secret(VALUE), Secret(VALUE))
    assert caplog.messages == [f"login with Secret('{MASK}') and Secret('{MASK}')"]


def test_a_traceback_with_local_variables_shows_the_mask() -> None:
    def connect(password: Secret) -> None:
        raise ConnectionError(f"login refused for {password}")

    try:
        connect(Secret(VALUE))
    except ConnectionError as error:
        text = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert VALUE not in text
    assert f"login refused for Secret('{MASK}')" in text
    assert f"password = Secret('{MASK}')" in text


def test_it_compares_by_value_without_showing_it_and_pickles_whole() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE  # never equal to the bare string
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert len({Secret(VALUE), Secret(VALUE), Secret("other")}) == 2
    assert pickle.loads(pickle.dumps(Secret(VALUE))).reveal() == VALUE  # noqa: S301  # our own bytes


def test_it_cannot_be_changed() -> None:
    secret = Secret(VALUE)
    with pytest.raises(AttributeError, match=r"^Secret is immutable$"):
        secret._value = "other"  # type: ignore[misc]
    assert secret.reveal() == VALUE

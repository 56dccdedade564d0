"""Refusals the core raises say themselves in the reader's language where a person reads
them, and stay English as a ``str`` (the API's JSON, the logs): a questioned link, a
template that does not compile or lacks a variable, an address, a setting. What they quote
(Jinja2's message, a validator's reason, the value typed) stays as it came."""

from __future__ import annotations

import re

import pytest

from postwarden.core import i18n
from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.core.config.model import Origin
from postwarden.core.config.resolve import ConfigError, Layer, resolve
from postwarden.core.config.variables import VARIABLES
from postwarden.core.links import judge
from postwarden.core.templating import TemplateError, TemplateSource, render


def in_language(language: str, value: object) -> str:
    with i18n.override(language):
        return i18n.localize(value)


def outside_markers(text: str) -> str:
    kept, depth = [], 0
    for char in text:
        if char == i18n.PSEUDO_OPEN:
            depth += 1
        elif char == i18n.PSEUDO_CLOSE:
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def test_a_questioned_links_problem_is_english_as_a_str_and_persian_when_said() -> None:
    app = "https://app.example.com"
    local, other, insecure = judge(
        ["http://localhost:8000/r http://evil.example.net/x http://app.example.com/y"], app
    )
    assert local.problem == "points at localhost, which recipients cannot reach"
    assert other.problem == "points at evil.example.net, not APP_URL's host app.example.com"
    assert insecure.problem == "uses http:// while APP_URL is https://"
    assert in_language("fa", local.problem) == "به localhost اشاره می‌کند که گیرندگان به آن دسترسی ندارند"
    assert "evil.example.net" in in_language("fa", other.problem)
    for problem in (local, other, insecure):
        said = in_language(i18n.PSEUDO, problem.problem)
        assert said.startswith(i18n.PSEUDO_OPEN), said
        assert said.endswith(i18n.PSEUDO_CLOSE), said


def template_error(source: TemplateSource, variables: dict[str, object]) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, variables)
    return caught.value


def test_a_template_error_says_where_in_the_readers_language_and_jinjas_words_as_they_came() -> None:
    syntax = template_error(TemplateSource("Hi", html="<p>\n{{ name | shout }}</p>"), {"name": "A"})
    assert str(syntax) == "html line 2: No filter named 'shout'."
    said = in_language("fa", i18n.said(syntax))
    assert said == "بخش HTML، خط ۲: No filter named 'shout'."
    missing = template_error(TemplateSource("Hi {{ a }} {{ b }}", text="x"), {})
    assert str(missing) == "subject line 1: variables 'a', 'b' are missing"
    assert in_language("fa", i18n.said(missing)) == "موضوع، خط ۱: متغیرهای 'a', 'b' داده نشده‌اند"
    one = template_error(TemplateSource("Hi", text="{{ a }}"), {})
    assert str(one) == "text line 1: variable 'a' is missing"
    assert in_language("fa", i18n.said(one)) == "بخش متنی، خط ۱: متغیر 'a' داده نشده است"


def test_an_address_refusal_keeps_the_validators_reason_verbatim() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address("not an address")
    assert str(caught.value).startswith("'not an address' is not a valid email address: ")
    said = in_language("fa", i18n.said(caught.value))
    assert said.startswith("'not an address' نشانی ایمیل معتبری نیست: ")
    # email_validator's own sentence, untranslated
    assert said.endswith(str(caught.value).split(": ", 1)[1])


@pytest.mark.parametrize("junk", ["%%junk x%%", "-5", "99999999999", "a:b:c", "yes"])
def test_every_settings_refusal_is_said_through_the_catalog(junk: str) -> None:
    """Each variable set to junk: what the resolver says has no English of Postwarden's
    outside the pseudo-locale's markers; only the names, the value and data remain."""
    refused = 0
    for variable in VARIABLES:
        error = refusal({variable.name: junk, "POSTWARDEN_DATA_DIR": "/nonexistent"})
        if error is None:
            continue
        refused += 1
        said = in_language(i18n.PSEUDO, error.said())
        left = outside_markers(said)
        for data in (junk, repr(junk), *(v.name for v in VARIABLES)):
            left = left.replace(data, " ")
        words = [w for w in re.findall(r"[A-Za-z]{3,}", left) if not w.isupper()]
        assert not words, (variable.name, junk, said)
        assert str(error).startswith("Postwarden cannot use these settings:\n  - ")
    assert refused > 3


def refusal(values: dict[str, str]) -> ConfigError | None:
    try:
        resolve(Layer(Origin.ENV, values))
    except ConfigError as exc:
        return exc
    return None

"""core/i18n.py: languages chosen, sentences said again in another language, dates and digits."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from tools import messages

from postwarden.core import i18n
from postwarden.core.i18n import Text, ntext

SRC = Path(i18n.__file__).resolve().parent.parent


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real compiled Persian catalog in a locale directory of the test's own."""
    po = Catalog(locale="fa", domain="test")
    po.add("The server {host} refused the login.", "سرور {host} ورود را نپذیرفت.")
    po.add(("{n} message waits", "{n} messages wait"), ("{n} پیام در صف است", "{n} پیام در صف است"))
    po.add("Untranslated", "")
    folder = tmp_path / "fa" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "test.mo").open("wb") as handle:
        write_mo(handle, po)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._catalog.cache_clear()
    yield
    i18n._catalog.cache_clear()


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("fa", "fa"),
        ("fa_IR.UTF-8", "fa"),
        ("fa-IR", "fa"),
        ("FA", "fa"),
        ("en_US.UTF-8", "en"),
        ("en-XA", i18n.PSEUDO),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("de_DE.UTF-8", None),
        ("", None),
        (None, None),
    ],
)
def test_match_language_reads_locale_tags(tag: str | None, language: str | None) -> None:
    assert i18n.match_language(tag) == language


def test_the_cli_follows_the_users_locale_then_the_instance_default() -> None:
    assert i18n.language_from_environ({"LANG": "fa_IR.UTF-8"}) == "fa"
    assert i18n.language_from_environ({"LANG": "en_US.UTF-8", "POSTWARDEN_LANGUAGE": "fa"}) == "en"
    # a container's C locale names no language: the operator's instance default decides
    assert i18n.language_from_environ({"LANG": "C.UTF-8", "POSTWARDEN_LANGUAGE": "fa"}) == "fa"
    assert i18n.language_from_environ({"LC_ALL": "fa_IR.UTF-8", "LANG": "en_US.UTF-8"}) == "fa"
    assert i18n.language_from_environ({"LANGUAGE": "de:fa", "LANG": "en_US.UTF-8"}) == "fa"
    assert i18n.language_from_environ({}) == "en"


def test_an_unknown_language_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of en, fa"):
        i18n.activate("de")


def test_text_is_english_for_machines_and_persian_for_a_reader(catalog: None) -> None:
    text = Text("The server {host} refused the login.", host="mx.example.com")
    assert text == "The server mx.example.com refused the login."
    assert json.dumps({"title": text}) == '{"title": "The server mx.example.com refused the login."}'
    with i18n.override("fa"):
        assert i18n.localize(text) == "سرور mx.example.com ورود را نپذیرفت."
        assert str(text) == "The server mx.example.com refused the login."
    assert i18n.localize(text) == "The server mx.example.com refused the login."
    assert text.localized("fa") == "سرور mx.example.com ورود را نپذیرفت."


def test_a_servers_words_stay_as_the_server_said_them(catalog: None) -> None:
    reply = "535 5.7.8 Username and Password not accepted {host}"
    text = Text("The server {host} refused the login.", host=reply)
    assert text.localized("fa") == f"سرور {reply} ورود را نپذیرفت."


def test_a_filled_template_keeps_its_message_id_and_says_its_defaults_in_the_language(catalog: None) -> None:
    template = Text("The server {host} refused the login.")
    assert template == "The server {host} refused the login."
    filled = template.filled({"host": "mx.example.com", "port": "25"})
    assert filled == "The server mx.example.com refused the login."
    assert filled.localized("fa") == "سرور mx.example.com ورود را نپذیرفت."
    # a value not known stays a placeholder; a Text value is said in the reader's language
    assert template.filled({}) == "The server {host} refused the login."
    unknown = template.filled({"host": Text("The server {host} refused the login.")})
    assert unknown.localized("fa") == "سرور سرور {host} ورود را نپذیرفت. ورود را نپذیرفت."
    # a sentence quoted inside another is filled too
    outer = Text("Sent to {to}", to=template)
    assert outer.filled({"host": "mx"}) == "Sent to The server mx refused the login."
    with i18n.override(i18n.PSEUDO):
        assert i18n.localize(outer.filled({"host": "mx"})) == "⟦Sent to ⟦The server mx refused the login.⟧⟧"


def test_a_sentence_stored_as_data_is_said_again_in_the_language(catalog: None) -> None:
    """An alert is stored before the monitor sends it: its words survive the JSON column."""
    inner = Text("The server {host} refused the login.", host="mx.example.com")
    outer = Text("{title} ({n} more)", title=inner, n=i18n.Number(3))
    stored = json.loads(json.dumps(i18n.as_data(outer)))
    back = i18n.from_data(stored)
    assert isinstance(back, Text)
    assert back == outer == "The server mx.example.com refused the login. (3 more)"
    with i18n.override("fa"):
        assert i18n.localize(back).startswith("سرور mx.example.com ورود را نپذیرفت.")
    plural = i18n.from_data(
        json.loads(json.dumps(i18n.as_data(ntext("{n} message waits", "{n} messages wait", 3))))
    )
    assert plural == "3 messages wait"
    assert i18n.localize(plural) == "3 messages wait"
    assert isinstance(plural, Text)
    assert plural.localized("fa") == "۳ پیام در صف است"
    assert i18n.from_data("a server's words") == "a server's words"


def test_plural_forms_and_the_count(catalog: None) -> None:
    assert ntext("{n} message waits", "{n} messages wait", 1) == "1 message waits"
    assert ntext("{n} message waits", "{n} messages wait", 3) == "3 messages wait"
    # the count is a number a person reads: Persian digits in the Persian sentence
    assert ntext("{n} message waits", "{n} messages wait", 3).localized("fa") == "۳ پیام در صف است"


def test_missing_or_empty_translations_fall_back_to_english(catalog: None) -> None:
    with i18n.override("fa"):
        assert i18n.gettext("Untranslated") == "Untranslated"
        assert i18n.gettext("Never marked") == "Never marked"
        assert i18n.localize(42) == "42"


def test_the_pseudo_locale_marks_every_translated_string() -> None:
    with i18n.override(i18n.PSEUDO):
        assert i18n.gettext("Queue") == "⟦Queue⟧"
        assert Text("Sent to {to}", to="a@example.com").localized() == "⟦Sent to a@example.com⟧"
        assert i18n.ngettext("one", "many", 2) == "⟦many⟧"


def test_each_context_keeps_its_own_language() -> None:
    async def speak(language: str) -> str:
        i18n.activate(language)
        await asyncio.sleep(0)
        return i18n.get_language()

    async def both() -> list[str]:
        return list(await asyncio.gather(speak("fa"), speak("en")))

    assert asyncio.run(both()) == ["fa", "en"]
    assert i18n.get_language() == "en"


def test_text_survives_pickling_with_its_message_id(catalog: None) -> None:
    text = pickle.loads(pickle.dumps(ntext("{n} message waits", "{n} messages wait", 2)))  # noqa: S301 our own bytes
    assert isinstance(text, Text)
    assert text.localized("fa") == "۲ پیام در صف است"


def test_a_sentence_inside_a_sentence_is_translated_too(catalog: None) -> None:
    inner = Text("The server {host} refused the login.", host="mx.example.com")
    outer = i18n.join("; ", [inner, "535 5.7.8 Bad credentials"])
    assert outer == "The server mx.example.com refused the login.; 535 5.7.8 Bad credentials"
    assert outer.localized("fa") == "سرور mx.example.com ورود را نپذیرفت.; 535 5.7.8 Bad credentials"
    nested = Text("The server {host} refused the login.", host=inner)
    assert nested.localized("fa") == "سرور سرور mx.example.com ورود را نپذیرفت. ورود را نپذیرفت."
    copied = pickle.loads(pickle.dumps(outer))  # noqa: S301 our own bytes
    assert copied.localized("fa") == outer.localized("fa")


def test_numbers_in_a_sentence_follow_the_reader_and_stay_ascii_in_english(catalog: None) -> None:
    with i18n.override("fa"):  # made while Persian is active: the English value is still ASCII
        text = Text("The server {host} refused the login.", host=i18n.Number(1234.5))
    assert text == "The server 1234.5 refused the login."
    assert text.localized("fa") == "سرور ۱۲۳۴٫۵ ورود را نپذیرفت."
    assert f"{i18n.Number(7.25):.1f}" == "7.2"
    assert pickle.loads(pickle.dumps(i18n.Number(3))) == 3  # noqa: S301 our own bytes


def test_a_sentence_with_other_parameters_keeps_its_message_id(catalog: None) -> None:
    text = Text("The server {host} refused the login.", host="secret.example").with_params(host="••••")
    assert (text, text.localized("fa")) == (
        "The server •••• refused the login.",
        "سرور •••• ورود را نپذیرفت.",
    )


def test_numbers_in_persian_digits() -> None:
    assert i18n.format_number(1234567, "en") == "1,234,567"
    assert i18n.format_number(1234567, "fa") == "۱٬۲۳۴٬۵۶۷"
    assert i18n.format_number(98.25, "fa") == "۹۸٫۲"


def test_dates_gregorian_by_default_solar_hijri_on_request() -> None:
    when = dt.datetime(2026, 3, 21, 9, 5, 7, tzinfo=dt.UTC)
    assert i18n.format_datetime(when, language="en") == "2026-03-21 09:05:07"
    assert i18n.format_datetime(when, language="fa") == "۲۰۲۶-۰۳-۲۱ ۰۹:۰۵:۰۷"
    # Nowruz: 21 March 2026 is 1 Farvardin 1405; 6 December 2026 is 15 Azar 1405
    assert i18n.format_datetime(when, calendar="persian", language="fa", seconds=False) == "۱۴۰۵/۰۱/۰۱ ۰۹:۰۵"
    assert i18n.format_datetime(dt.date(2026, 12, 6), calendar="persian", language="en") == "1405/09/15"
    with pytest.raises(ValueError, match="unknown calendar"):
        i18n.format_datetime(when, calendar="julian")


def test_direction_follows_the_language() -> None:
    assert i18n.text_direction("fa") == "rtl"
    assert i18n.text_direction("en") == "ltr"
    assert i18n.text_direction(i18n.PSEUDO) == "ltr"


def test_every_marked_string_is_a_literal_the_extractor_can_read() -> None:
    """``Text(f"…")`` or ``gettext(variable)`` would never reach a catalog."""
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not _imports_core_i18n(tree):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in messages.KEYWORDS:
                literal_args = 2 if _name(node.func) in ("ngettext", "ntext") else 1
                head = node.args[:literal_args]
                if len(head) < literal_args or not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in head
                ):
                    wrong.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert wrong == []


def test_two_domains_may_not_translate_one_message_two_ways() -> None:
    """The domains are one chain at run time: a second translation would silently never show."""
    doctor, replies = Catalog(locale="fa", domain="doctor"), Catalog(locale="fa", domain="replies")
    doctor.add("What it means:", "معنایش:")
    doctor.add("error", "خطا")
    replies.add("What it means:", "معنایش چیست:")
    replies.add("error", "خطا")
    found = messages.disagreements("fa", {"doctor": doctor, "replies": replies})
    assert found == ["fa: 'What it means:' is translated one way in doctor, another in replies"]


def test_the_catalogs_are_complete_and_compiled() -> None:
    """What make test refuses: a missing or untranslated string, a lost placeholder, a stale .mo."""
    assert messages.problems() == []


def _imports_core_i18n(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.module == "postwarden.core.i18n" for n in ast.walk(tree))


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def test_a_row_keeps_its_own_sentences_and_says_them_only_while_its_english_column_says_them() -> None:
    held = i18n.Text("held by {who}", who="ops@example.com")
    words = json.loads(json.dumps(i18n.keep(reason=held, note="a plain note")))
    assert set(words) == {"reason"}  # the English column holds a plain string already
    again = i18n.kept(words, "reason", "held by ops@example.com")
    assert isinstance(again, i18n.Text)
    with i18n.override(i18n.PSEUDO):
        assert again.localized() == "⟦held by {who}⟧".replace("{who}", "ops@example.com")
    # a writer changed the column without the words (the worker's batched update): its English
    stale = i18n.kept(words, "reason", "deferred at rcpt: 451 4.7.1 Greylisted")
    assert stale == "deferred at rcpt: 451 4.7.1 Greylisted"
    assert not isinstance(stale, i18n.Text)
    # rows written before the words were kept
    assert not isinstance(i18n.kept(None, "reason", "held by ops@example.com"), i18n.Text)
    assert not isinstance(i18n.kept({}, "reason", "held by ops@example.com"), i18n.Text)

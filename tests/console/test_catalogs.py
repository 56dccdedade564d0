"""The Django apps' translation catalogs (tools/messages.py, CONTRIBUTING.md "Translations"):
every marked string of the console's templates and Python is in every shipped language's
catalog, translated, with the placeholders the code fills, and compiled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from tools import messages

from tests.system import command


@pytest.fixture(autouse=True)
def _xgettext() -> None:
    command("xgettext", package="gettext")  # Django's makemessages reads the templates with it


def test_the_console_catalogs_are_complete_compiled_and_match_the_code() -> None:
    assert messages.django_problems() == []


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Django apps copied, and tools/messages pointed at the copy."""
    src = tmp_path / "src" / "postwarden"
    for app in messages.DJANGO_APPS:
        shutil.copytree(messages.SRC / app, src / app, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(messages, "SRC", src)
    monkeypatch.setattr(messages, "ROOT", tmp_path)
    return src


def test_a_marked_string_missing_from_the_catalog_fails_the_check(copy: Path) -> None:
    page = copy / "console" / "templates" / "console" / "new_page.html"
    page.write_text('{% load i18n %}<p>{% translate "Words nobody translated yet" %}</p>\n')
    found = messages.django_problems()
    assert any("not in the catalog" in p and "Words nobody translated yet" in p for p in found), found


def _edit_fa(copy: Path, msgid: str, string: str) -> None:
    path = copy / "console" / "locale" / "fa" / "LC_MESSAGES" / "django.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="fa", domain="django")
    catalog[msgid].string = string
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, no_location=True)


def test_an_untranslated_entry_a_lost_placeholder_and_a_stale_mo_fail_the_check(copy: Path) -> None:
    _edit_fa(copy, "Overview", "")
    _edit_fa(copy, "Added %(email)s.", "افزوده شد.")
    found = "\n".join(messages.django_problems())
    assert "not translated: 'Overview'" in found
    assert "'Added %(email)s.': the translation leaves out ['email']" in found
    assert "console/locale/fa/LC_MESSAGES/django.mo: stale or missing" in found

"""No hard-coded English creeps back into the console: every page is rendered in the
pseudo-locale (core/i18n.py PSEUDO), whose catalog is the console's own with each
translation wrapped in ⟦…⟧, and no English word may be seen outside the markers; every
form is also posted back with values it refuses, so that the page re-rendered with its
errors (a form's, a flash, an htmx partial) is read too.

What is not checked, and why (the page marks each as data, which right-to-left pages need
anyway): text inside <code>, <pre>, <kbd>, <samp>, <bdi>, a textarea, an element with
class "mono" or dir="ltr" (addresses, subjects, names, codes, servers' replies, headers,
transcripts, setting names: quoted as written, never translated); text an element says is in
another language with lang="…" (a language's own name in the language picker; a sentence
stored in English before its words were kept: ``english_on(page, stored=True)`` reads those
too, tests/console/test_stored_words.py); numbers and punctuation; and the product's name.
Django's own words (sizes, time spans) go through its catalog, so the pseudo-locale wraps
its catalog too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import django
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.test import Client
from django.urls import reverse
from tools import messages

from postwarden.accounts.models import Role, User
from postwarden.console.access import ACCESS
from postwarden.core import i18n
from tests.console.conftest import logged_in
from tests.console.test_access import url_args  # noqa: F401 - the fixture: one of every kind of row

pytestmark = pytest.mark.django_db

#: elements whose text is data the page quotes
QUOTED: Final = frozenset({"code", "pre", "kbd", "samp", "bdi", "textarea", "script", "style"})
VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
#: attributes a person reads (or a screen reader says)
READ_ATTRIBUTES: Final = ("placeholder", "aria-label", "title", "data-label", "data-confirm", "alt")
PRODUCT: Final = "Postwarden"
_WORD: Final = re.compile(r"[A-Za-z][A-Za-z'’]+")
_MARKED: Final = re.compile(f"{i18n.PSEUDO_OPEN}[^{i18n.PSEUDO_OPEN}{i18n.PSEUDO_CLOSE}]*{i18n.PSEUDO_CLOSE}")
#: routes that answer something other than a console page (a mail's own HTML, files)
NOT_PAGES: Final = frozenset(
    {
        "logout",
        "message_html",
        "message_raw",
        "message_attachment",
        "captured_html",
        "captured_raw",
        "captured_attachment",
        "suppressions_csv",
    }
)


def unmarked(text: str) -> list[str]:
    """The English words of ``text`` outside the pseudo-locale's markers (nested ones too)."""
    while True:
        stripped = _MARKED.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    return [w for w in _WORD.findall(text) if w != PRODUCT]


class Reader(HTMLParser):
    """The text and the read attributes of a page, data elements left out. ``stored``: a
    sentence marked as English (``lang="en"``) is read too, since a sentence Postwarden
    stored itself must be said in the page's language (a language's own name in the
    language picker is still not)."""

    def __init__(self, *, stored: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.stored = stored
        self.stack: list[tuple[str, bool]] = []
        self.text: list[str] = []
        self.attributes: list[str] = []

    def _quoted(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        quoted = (
            self._quoted()
            or tag in QUOTED
            # the page's own direction and language are not a quote
            or (tag != "html" and (found.get("dir") == "ltr" or self._other_language(tag, found)))
            or "mono" in found.get("class", "").split()
        )
        if not quoted:
            self.attributes += [found[name] for name in READ_ATTRIBUTES if found.get(name)]
        self.text.append("\n")
        if tag not in VOID:
            self.stack.append((tag, quoted))

    def _other_language(self, tag: str, found: dict[str, str]) -> bool:
        if "lang" not in found:
            return False
        return not self.stored or found["lang"] != "en" or tag == "option"

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        self.text.append("\n" if tag not in ("a", "span", "strong", "small", "bdi", "code", "em") else "")

    def handle_data(self, data: str) -> None:
        in_head = any(tag == "head" for tag, _ in self.stack) and not any(t == "title" for t, _ in self.stack)
        self.text.append(" " if self._quoted() or in_head else data)


def english_on(page: str, *, stored: bool = False) -> list[str]:
    """The English words a reader sees on ``page`` outside the markers (``stored``: those
    marked lang="en" too, see :class:`Reader`)."""
    reader = Reader(stored=stored)
    reader.feed(page)
    found = unmarked("".join(reader.text))
    for value in reader.attributes:
        found += [f"{w} (in an attribute: {value!r})" for w in unmarked(value)]
    return found


@pytest.fixture
def pseudo(tmp_path: Path, settings: object) -> str:
    """The console's catalogs as a pseudo-locale: each translation is its English inside
    the markers, compiled where Django looks first (LOCALE_PATHS)."""
    catalog = Catalog(locale="en", domain="django")
    django_root = Path(django.__file__).parent
    # Django's own words and its contrib apps' (a password validator's, a form's)
    owns = [django_root / "conf", *sorted((django_root / "contrib").iterdir())]
    sources = []
    for own in owns:
        po = own / "locale" / i18n.LANGUAGES[1] / "LC_MESSAGES" / "django.po"
        if po.is_file():
            with po.open("rb") as handle:
                sources.append(read_po(handle))
    sources += [messages.read_django(app, i18n.LANGUAGES[1]) for app in messages.DJANGO_APPS]
    for source in sources:
        for message in source:
            if not message.id:
                continue
            ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
            wrapped = tuple(f"{i18n.PSEUDO_OPEN}{i}{i18n.PSEUDO_CLOSE}" for i in ids)
            catalog[message.id] = Message(
                message.id, wrapped[0] if len(wrapped) == 1 else wrapped, context=message.context
            )
    folder = tmp_path / "en_XA" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "django.mo").open("wb") as handle:
        write_mo(handle, catalog)
    settings.LOCALE_PATHS = [str(tmp_path)]  # type: ignore[attr-defined]
    settings.LANGUAGES = [*settings.LANGUAGES, (i18n.PSEUDO, "Pseudo")]  # type: ignore[attr-defined]
    return i18n.PSEUDO


def test_the_reader_finds_english_outside_the_markers_and_not_inside_or_in_data() -> None:
    assert english_on("<p>⟦Deliveries⟧ <bdi>alice@example.com</bdi> 12</p>") == []
    assert english_on("<p>⟦Retry <bdi>a@b</bdi> now⟧</p><pre>535 5.7.8 Bad</pre>") == []
    assert english_on("<p>⟦Key “⟦billing⟧” created⟧</p>") == []
    assert english_on("<p>⟦Send⟧ test</p>") == ["test"]
    assert english_on('<input placeholder="Search here">') == [
        "Search (in an attribute: 'Search here')",
        "here (in an attribute: 'Search here')",
    ]
    assert english_on('<p>⟦Language⟧ <span lang="en">English</span></p><td class="mono">smtp</td>') == []
    stored = '<p>⟦Why⟧ <span lang="en">released</span></p><option lang="en">English</option>'
    assert english_on(stored) == []
    assert english_on(stored, stored=True) == ["released"]


def test_every_console_page_says_only_words_from_the_catalog(
    pseudo: str,
    admin: User,
    url_args: dict[str, dict[str, object]],  # noqa: F811 - the fixture imported above
    clean_env: None,
) -> None:
    admin.language = pseudo
    admin.save()
    client = logged_in(admin)
    seen: dict[str, list[str]] = {}
    for name in ACCESS:
        if name in NOT_PAGES:
            continue
        response = client.get(reverse(f"console:{name}", kwargs=url_args.get(name)))
        if response.status_code in (301, 302):
            continue
        assert response.status_code == 200, (name, response.status_code)
        assert response["Content-Type"].startswith("text/html"), name
        page = response.content.decode()
        assert f'<html lang="{pseudo}"' in page, name
        if english := english_on(page):
            seen[name] = english
    assert not seen, "\n".join(f"{name}: {words}" for name, words in sorted(seen.items()))


def test_the_login_404_and_403_pages_say_only_words_from_the_catalog(pseudo: str, clean_env: None) -> None:
    anonymous = Client(headers={"Accept-Language": pseudo})
    assert english_on(anonymous.get("/login/").content.decode()) == []
    assert english_on(anonymous.get("/no-such-page/").content.decode()) == []
    viewer = User.objects.create_user(
        username="v@example.com", email="v@example.com", password="x" * 12, role=Role.VIEWER, language=pseudo
    )
    forbidden = logged_in(viewer).get("/users/")
    assert forbidden.status_code == 403
    assert english_on(forbidden.content.decode()) == []


#: the settings form with values the resolver refuses, one problem of each kind
BAD_SETTINGS: Final = {
    "EMAIL_PROVIDER": "smtp",
    "EMAIL_ENABLED": "on",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_PORT": "abc",
    "SMTP_SECURITY": "starttls",
    "SMTP_TIMEOUT": "-3",
    "MAIL_FROM": "ops@example.com",
    "LINKS_ALLOWED_HOSTS": "",
    "POSTWARDEN_RELAY_TRUSTED_NETWORKS": "not-a-network",
}
TEMPLATE: Final = {
    "name": "welcome",
    "subject": "Hello {{ name }}",
    "text": "",
    "html": "<p>Hi {{ name }}, <a href='{{ url }}'>start</a> or see http://localhost:8000/help</p>",
    "sample_variables": '{"name": "Ann", "url": "http://10.0.0.5/start"}',
}
#: forms sent with what they refuse, so that the page comes back with its errors (a
#: re-rendered form, a flash, an htmx partial): route, its arguments' fixture key, data
POSTS: Final[list[tuple[str, str, dict[str, object]]]] = [
    ("settings", "", {**BAD_SETTINGS, "action": "save"}),
    ("settings_test_connection", "", BAD_SETTINGS),
    ("settings_send_test", "", {**BAD_SETTINGS, "to": "not an address"}),
    ("settings_dkim_generate", "", {"selector": "not a selector!"}),
    ("settings_dkim_check", "", {}),
    (
        "settings",
        "",
        {
            "action": "save",
            "EMAIL_PROVIDER": "capture",
            "MAIL_FROM": "ops@example.com",
            "DKIM_PRIVATE_KEY": "not a key",
            "DKIM_SELECTOR": "s1",
            "DKIM_DOMAIN": "example.com",
        },
    ),
    ("templates", "", {**TEMPLATE, "html": "<p>\n{{ name | shout }}</p>"}),
    ("templates", "", {**TEMPLATE, "html": "<p>{% if name %}open</p>"}),
    ("templates", "", {**TEMPLATE, "name": "no spaces allowed"}),
    ("templates", "", {**TEMPLATE, "sample_variables": "{name: 1}"}),
    ("templates", "", {**TEMPLATE, "sample_variables": "[1]"}),
    ("templates", "", {**TEMPLATE, "html": "", "text": ""}),
    ("template_preview", "", {**TEMPLATE, "sample_variables": '{"name": "Ann"}'}),
    ("template_preview", "", TEMPLATE),
    (
        "template_preview",
        "",
        {**TEMPLATE, "html": "<p>{{ name | join(1) }}</p>", "sample_variables": '{"name": 5}'},
    ),
    ("template", "template", {**TEMPLATE, "html": "<p>{{ name }</p>"}),
    ("template_send_test", "template", {"to": "not an address"}),
    ("canaries", "", {"address": "not an address", "imap_host": "", "imap_port": "0"}),
    ("canary", "canary", {"address": "", "imap_port": "99999"}),
    ("apikeys", "", {"name": "", "scopes": ["no-such-scope"]}),
    ("users", "", {"email": "not an address", "password": "short", "role": "nobody"}),
    ("user", "user", {"role": "nobody", "password": "short"}),
    ("people", "", {"action": "member", "email": "not an address"}),
    ("people", "", {"action": "group", "name": ""}),
    ("people", "", {"action": "mode", "mode": "everyone"}),
    ("member", "member", {"email": "not an address"}),
    ("suppressions", "", {"address": "not an address"}),
    ("alerts", "", {"url": "not a url"}),
    ("account", "", {"language": "de", "calendar": "lunar"}),
]


@pytest.mark.parametrize(
    ("name", "args", "data"),
    POSTS,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(POSTS)],
)
def test_every_form_sent_back_with_its_errors_says_only_words_from_the_catalog(
    name: str,
    args: str,
    data: dict[str, object],
    pseudo: str,
    admin: User,
    url_args: dict[str, dict[str, object]],  # noqa: F811 - the fixture imported above
    clean_env: None,
) -> None:
    admin.language = pseudo
    admin.save()
    client = logged_in(admin)
    if args == "template":
        client.post(reverse("console:templates"), TEMPLATE)
        kwargs: dict[str, object] | None = {"name": TEMPLATE["name"]}
    else:
        kwargs = url_args.get(args) if args else None
    response = client.post(reverse(f"console:{name}", kwargs=kwargs), data, follow=True)
    assert response.status_code == 200, (name, response.status_code)
    page = response.content.decode()
    assert i18n.PSEUDO_OPEN in page, name
    left = english_on(page)
    assert not left, f"{name}: {' '.join(left)}"

"""The translation catalogs of the framework-free code: extract, compile, check.

``python -m tools.messages extract`` reads the marked strings (``gettext``, ``ngettext``,
``Text``, ``ntext`` from :mod:`postwarden.core.i18n`) out of the sources of each domain,
merges them into every shipped language's ``.po`` (new entries empty, vanished ones
dropped) and compiles the ``.mo`` files; ``check`` is what ``make test`` runs: it fails
when a marked string is missing from a catalog, a shipped language is below 100%, a
translation drops or invents a ``{placeholder}``, or a committed ``.mo`` is stale.
Babel does the reading and writing; what it does not do (these checks, the domains) is here.
CONTRIBUTING.md, "Translations", is the workflow.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from postwarden.core.i18n import LANGUAGES, LOCALE_DIR, PLACEHOLDER

ROOT: Final = Path(__file__).resolve().parent.parent
SRC: Final = ROOT / "src" / "postwarden"

#: Each domain and the sources it is extracted from; a file belongs to the first domain
#: that lists it (or a folder above it). Django's apps keep Django's own catalogs.
DOMAINS: Final[dict[str, tuple[str, ...]]] = {
    # the finding codes' titles (core/codes.py) are the doctor's words wherever they show;
    # the SMTP session's, the resolver's and the recipient policy's words are what the
    # doctor's walk reports
    "doctor": (
        "core/doctor",
        "core/codes.py",
        "core/smtp",
        "core/dns.py",
        "core/policy.py",
        "core/oauth/token.py",
        "doctor",
        "cli/doctor.py",
    ),
    "replies": ("core/replies", "cli/explain.py"),
    # the settings' descriptions: the console's Email settings page shows them
    "settings": ("core/config",),
    # mailtemplates: a template's refusal, English in the API's answer, translated in the console
    "cli": ("cli", "core", "outbox/management", "mailtemplates"),
    # what Postwarden writes itself outside the console: alerts, the canary mail
    "mail": ("alerts", "canaries/runner.py"),
    # what the outbox and the bounce intake write on a timeline and a bounce: stored in
    # English with the sentence kept, said in the reader's language on the console's pages
    "timeline": ("outbox", "bounces"),
}
KEYWORDS: Final = {"gettext": None, "ngettext": (1, 2), "Text": None, "ntext": (1, 2)}
#: Django apps that keep their own catalog, <app>/locale/<language>/LC_MESSAGES/django.po:
#: Django's makemessages reads their templates and Python (it needs GNU gettext's xgettext),
#: Babel merges, writes and compiles them as it does the core's
DJANGO_APPS: Final = ("console", "accounts", "canaries")
#: where makemessages finds the settings it needs (the test suite's: a throwaway data directory)
_SETTINGS_PATH: Final = str(ROOT)
#: Django's placeholders: %(name)s in Python and {% blocktranslate %}, {name} in console.js's words
_DJANGO_PLACEHOLDER: Final = re.compile(
    r"%\(([A-Za-z_][A-Za-z0-9_]*)\)[-#0 +]*\d*(?:\.\d+)?[sdrfi]|(?<!\{)\{([A-Za-z_]\w*)\}(?!\})"
)


def domain_of(path: Path) -> str | None:
    relative = path.relative_to(SRC).as_posix()
    for domain, roots in DOMAINS.items():
        if any(relative == root or relative.startswith(root + "/") for root in roots):
            return domain
    return None


def sources(domain: str) -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" not in path.parts and domain_of(path) == domain:
            yield path


def template(domain: str) -> Catalog:
    """The messages marked in the domain's sources now (what a ``.pot`` would hold)."""
    catalog = _new_catalog(None, domain)
    for path in sources(domain):
        for line, message, comments, context in extract_from_file(
            "python", str(path), keywords=KEYWORDS, comment_tags=("Translators:",)
        ):
            where = (path.relative_to(ROOT).as_posix(), line)
            catalog.add(message, locations=[where], auto_comments=comments, context=context)
    return catalog


def po_path(language: str, domain: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def read(language: str, domain: str) -> Catalog:
    path = po_path(language, domain)
    if not path.exists():
        return _new_catalog(language, domain)
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def extract() -> None:
    extract_django()
    for domain in DOMAINS:
        fresh = template(domain)
        for language in LANGUAGES[1:]:
            merge(
                read(language, domain),
                fresh,
                po_path(language, domain),
                lambda: read(language, domain),  # noqa: B023 - called before the loop moves on
                sort_by_file=True,
            )


def merge(
    catalog: Catalog, fresh: Catalog, path: Path, reread: Callable[[], Catalog], **layout: bool
) -> None:
    """Bring ``catalog`` to the messages of ``fresh`` (new ones empty, vanished ones dropped),
    write it to ``path`` and compile the ``.mo`` from what was written (``reread``): the one
    merge of the core's and Django's catalogs, which differ only in ``layout``."""
    created = catalog.creation_date
    catalog.update(fresh, no_fuzzy_matching=True)
    # a stable header: parallel branches that each extract then merge cleanly
    catalog.creation_date = created
    catalog.obsolete.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, **layout)
    path.with_suffix(".mo").write_bytes(compiled(reread()))
    print(f"{path.relative_to(ROOT)}: {len(fresh)} messages, {len(untranslated(catalog))} to translate")


def untranslated(catalog: Catalog) -> list[str]:
    return [_id(m) for m in _messages(catalog) if m.fuzzy or not _complete(m)]


def problems() -> list[str]:
    """Everything ``make test`` refuses, one line each."""
    found: list[str] = []
    for domain in DOMAINS:
        wanted = {_key(m) for m in _messages(template(domain))}
        for language in LANGUAGES[1:]:
            found += catalog_problems(
                po_path(language, domain), read(language, domain), wanted, _key, PLACEHOLDER
            )
    for language in LANGUAGES[1:]:
        found += disagreements(language, {domain: read(language, domain) for domain in DOMAINS})
    return found


def disagreements(language: str, catalogs: dict[str, Catalog]) -> list[str]:
    """Messages two domains translate differently: at run time the domains form one chain
    and the first one that has a message wins, so the other translation would never show."""
    seen: dict[tuple[str, ...], tuple[str, object]] = {}
    found = []
    for domain, catalog in catalogs.items():
        for message in _messages(catalog):
            key, string = _key(message), message.string
            if key in seen and seen[key][1] != string:
                other = seen[key][0]
                found.append(
                    f"{language}: {_id(message)!r} is translated one way in {other}, another in {domain}"
                )
            seen.setdefault(key, (domain, string))
    return found


def _new_catalog(language: str | None, domain: str) -> Catalog:
    return Catalog(
        locale=language,
        domain=domain,
        project="Postwarden",
        copyright_holder="the Postwarden contributors",
        msgid_bugs_address="the issue tracker (CONTRIBUTING.md)",
        last_translator="the Postwarden contributors",
        language_team=f"{language} (the Postwarden contributors)" if language else None,
        fuzzy=False,
    )


def _messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _id(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _key(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _complete(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(strings) and all(strings)


def _placeholder_errors(message: Message, pattern: re.Pattern[str] = PLACEHOLDER) -> list[str]:
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    wanted = set().union(*(_names(pattern, i) for i in ids))
    errors = []
    for string in filter(None, strings):
        got = _names(pattern, string)
        if got - wanted:
            errors.append(
                f"{_id(message)!r}: the translation names {sorted(got - wanted)}, unknown to the code"
            )
        if wanted - got - {"n"}:
            errors.append(f"{_id(message)!r}: the translation leaves out {sorted(wanted - got - {'n'})}")
    return errors


def django_po_path(app: str, language: str) -> Path:
    return SRC / app / "locale" / language / "LC_MESSAGES" / "django.po"


def django_template(app: str) -> Catalog:
    """The messages marked in a Django app now: makemessages run on a copy of the app with
    an empty locale folder, so what it finds is not mixed with the committed catalog."""
    with tempfile.TemporaryDirectory(prefix="postwarden-messages-") as tmp:
        work = Path(tmp) / app
        shutil.copytree(SRC / app, work, ignore=shutil.ignore_patterns("locale", "__pycache__", "static"))
        (work / "locale").mkdir()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": _SETTINGS_PATH}
        language = LANGUAGES[1]  # any shipped one: Django fills in its plural forms
        command = [sys.executable, "-m", "django", "makemessages", f"--locale={language}", "--no-location"]
        # this interpreter and fixed arguments: nothing from outside reaches the command line
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"makemessages failed for {app}: {done.stderr.strip()[-2000:]}")
        with (work / "locale" / language / "LC_MESSAGES" / "django.po").open("rb") as handle:
            found = read_po(handle, domain="django")
    catalog = _new_catalog(None, "django")
    for message in _messages(found):
        catalog.add(message.id, context=message.context, flags=message.flags - {"fuzzy"})
    return catalog


def read_django(app: str, language: str) -> Catalog:
    path = django_po_path(app, language)
    if not path.exists():
        return _new_catalog(language, "django")
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain="django")


def extract_django() -> None:
    for app in DJANGO_APPS:
        fresh = django_template(app)
        for language in LANGUAGES[1:]:
            merge(
                read_django(app, language),
                fresh,
                django_po_path(app, language),
                lambda: read_django(app, language),  # noqa: B023 - called before the loop moves on
                omit_header=False,
                no_location=True,
            )


def django_problems() -> list[str]:
    """What ``make test`` refuses in the Django apps' catalogs, one line each."""
    found: list[str] = []
    for app in DJANGO_APPS:
        wanted = {_ctx_key(m) for m in _messages(django_template(app))}
        for language in LANGUAGES[1:]:
            catalog = read_django(app, language)
            found += catalog_problems(
                django_po_path(app, language), catalog, wanted, _ctx_key, _DJANGO_PLACEHOLDER
            )
    return found


def catalog_problems(
    po: Path,
    catalog: Catalog,
    wanted: set[tuple[str, ...]],
    key: Callable[[Message], tuple[str, ...]],
    placeholder: re.Pattern[str],
) -> list[str]:
    """One catalog against the messages its code marks: missing, stale, untranslated, a
    placeholder lost or invented, a stale ``.mo`` (the core's and Django's alike)."""
    where = po.relative_to(ROOT)
    have = {key(m) for m in _messages(catalog)}
    found = [f"{where}: not in the catalog (run make messages): {m!r}" for m in sorted(wanted - have)]
    found += [f"{where}: no longer in the code (run make messages): {m!r}" for m in sorted(have - wanted)]
    found += [f"{where}: not translated: {m!r}" for m in untranslated(catalog)]
    found += [f"{where}: {p}" for m in _messages(catalog) for p in _placeholder_errors(m, placeholder)]
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(catalog):
        found.append(f"{mo.relative_to(ROOT)}: stale or missing; run make messages")
    return found


def _ctx_key(message: Message) -> tuple[str, ...]:
    return (message.context or "", *_key(message))


def _names(pattern: re.Pattern[str], text: str) -> set[str]:
    """The placeholder names in ``text`` (a pattern with several groups names one per match)."""
    return {
        next(filter(None, found)) if isinstance(found, tuple) else found for found in pattern.findall(text)
    }


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "extract":
        extract()
        return 0
    if command == "check":
        found = problems() + django_problems()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print("usage: python -m tools.messages extract|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

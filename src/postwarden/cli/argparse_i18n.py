"""argparse's own words ("usage:", "options", "error:") in the reader's language.

argparse says them through the standard library's :mod:`gettext` under its own domain,
looked up in the system's locale directory, where no Postwarden language lives. It reads
them through two module globals at the moment it formats, so :func:`install` points
those at :mod:`postwarden.core.i18n`, and :func:`words` lists them here, so that the
extractor puts them in the ``cli`` catalog with the rest of the command line's words.
The CLI is its own process: the change is for that process only.
"""

from __future__ import annotations

import argparse

from postwarden.core import i18n
from postwarden.core.i18n import gettext, ngettext


def install() -> None:
    """Have argparse say its words through the active language's catalog."""
    argparse._ = _gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def _gettext(message: str | None) -> str | None:
    # argparse asks for a subparsers group's description even when there is none. Its
    # messages reach the catalog through words(), so this passes a variable on
    return _lookup(message) if message else message


_lookup = i18n.gettext


def words() -> list[str]:
    """The words argparse formats with (Python 3.11 to 3.13), in the active language."""
    return [
        gettext("usage: "),
        gettext("positional arguments"),
        gettext("options"),
        gettext("subcommands"),
        gettext("show this help message and exit"),
        gettext("show program's version number and exit"),
        gettext("%(prog)s: error: %(message)s\n"),
        gettext("argument %(argument_name)s: %(message)s"),
        gettext("the following arguments are required: %s"),
        gettext("one of the arguments %s is required"),
        gettext("unrecognized arguments: %s"),
        gettext("not allowed with argument %s"),
        gettext("ignored explicit argument %r"),
        gettext("expected one argument"),
        gettext("expected at most one argument"),
        gettext("expected at least one argument"),
        ngettext("expected %s argument", "expected %s arguments", 2),
        gettext("ambiguous option: %(option)s could match %(matches)s"),
        gettext("unexpected option string: %s"),
        gettext("invalid %(type)s value: %(value)r"),
        gettext("invalid choice: %(value)r (choose from %(choices)s)"),
        gettext("unknown parser %(parser_name)r (choices: %(choices)s)"),
        gettext("can't open '%(filename)s': %(error)s"),
    ]

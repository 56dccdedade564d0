"""Every command line a person reads goes through the catalog: run under the pseudo-locale
(``LANG=en_XA.UTF-8``), where every translated string comes back inside ``⟦…⟧``, nothing
English may be left outside the markers.

What may stay outside is what is not words of Postwarden's: option names, metavars and
choices (from the parsers themselves), command names, settings and codes in capitals,
hosts, paths, addresses and numbers, key material, and the server's words a command quotes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from postwarden.cli.main import COMMANDS, module_of
from postwarden.core.i18n import PSEUDO_CLOSE, PSEUDO_OPEN

REPLY = "535 5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials"
GREYLIST = (
    "450 4.2.0 <b@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/"
)
#: the commands that refuse without an install, each with arguments that get it that far
NEED_INSTALL = {
    "apikey": ["list"],
    "canary": ["list"],
    "createadmin": ["--email", "ops@example.com", "--password-stdin"],
    "send-test": ["--to", "ops@example.com"],
    "oauth2": ["connect"],
    "copy-database": ["postgres://user:pw@db.example.com/postwarden"],
    "manage": ["check"],
}
#: DNS record field names dkim prints for a zone editor (the names DNS gives them)
RECORD_FIELDS = {"name", "value"}


def postwarden(argv: list[str], tmp_path: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "EMAIL_", "DKIM_", "DJANGO_", "LC_", "LANG"))
        and k not in ("DATABASE_URL", "TEST_EMAIL")
    }
    env.update(LANG="en_XA.UTF-8", POSTWARDEN_DATA_DIR=str(tmp_path / "no-install"), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "postwarden", *argv],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    return output


def outside_markers(text: str) -> str:
    """``text`` without what the catalog said (nested markers included)."""
    kept, depth = [], 0
    for char in text:
        if char == PSEUDO_OPEN:
            depth += 1
        elif char == PSEUDO_CLOSE:
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def parser_words(parser: argparse.ArgumentParser) -> set[str]:
    """Option names, metavars, destinations and choices: the command line's own names."""
    words = {*parser.prog.split()}
    for action in parser._actions:
        words.update(action.option_strings)
        words.update(str(v) for v in (action.dest, action.metavar) if v)
        if action.choices:
            words.update(str(choice) for choice in action.choices)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                words |= parser_words(sub)
    return words


_DATA = re.compile(
    r"^(?:-.*|[A-Z0-9_|:.\[\],=/+-]+|.*[/@=].*|.*\..*\w|[\d.,:%]+s?|[A-Za-z0-9+/=]{16,}|\.\.\.|…|·|\W*)$"
)


def english_left(output: str, allowed: Iterable[str]) -> list[str]:
    """Words outside the markers that are none of the allowed kinds."""
    known = set(allowed) | set(COMMANDS) | {"postwarden"} | RECORD_FIELDS
    left = []
    for token in outside_markers(output).split():
        for word in token.strip("[](){}<>,.;:'\"`|").split(","):  # {create,list,revoke}
            if word in known or _DATA.match(word) or sum(c.isascii() and c.isalpha() for c in word) < 2:
                continue
            left.append(word)
    return left


def helps() -> Iterator[tuple[str, ...]]:
    """Every command's --help, and every subcommand's."""
    for name in COMMANDS:
        yield (name, "--help")
        for action in module_of(name).build_parser()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices:
                    yield (name, sub, "--help")


def all_words() -> set[str]:
    words: set[str] = set()
    for name in COMMANDS:
        words |= parser_words(module_of(name).build_parser())
    return words


WORDS = all_words()


@pytest.mark.parametrize("argv", list(helps()), ids=" ".join)
def test_every_help_is_said_through_the_catalog(argv: tuple[str, ...], tmp_path: Path) -> None:
    output = postwarden(list(argv), tmp_path)
    assert f"{PSEUDO_OPEN}usage: {PSEUDO_CLOSE}" in output
    assert english_left(output, WORDS) == [], output


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["no-such-command"],
        ["apikey"],
        ["explain", "--port", "many"],
        ["dkim", "generate", "--bits"],
        ["dkim", "generate", "--domain", "a@b"],
    ],
    ids=[
        "usage",
        "--help",
        "unknown command",
        "missing subcommand",
        "bad value",
        "missing value",
        "bad domain",
    ],
)
def test_the_usage_and_usage_errors_are_said_through_the_catalog(argv: list[str], tmp_path: Path) -> None:
    output = postwarden(argv, tmp_path)
    assert PSEUDO_OPEN in output
    assert english_left(output, WORDS | {"no-such-command", "many"}) == [], output


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", REPLY, "--host", "smtp.gmail.com"],
        ["explain", GREYLIST],
        ["explain", "dial tcp: lookup smtp.example.invalid: no such host"],
        ["explain", "599 something nobody wrote a rule for"],
        ["explain", "--stage", "rcpt", "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown"],
        ["explain"],
    ],
    ids=["gmail 535", "greylisting", "dns", "unknown", "rcpt", "no text"],
)
def test_explain_says_everything_but_the_servers_words_through_the_catalog(
    argv: list[str], tmp_path: Path
) -> None:
    output = postwarden(argv, tmp_path)
    # what the server said is quoted as it came: its words are not Postwarden's
    quoted = {w.strip("[](){}<>,.;:'\"`|") for text in argv[1:] for w in text.split()}
    assert PSEUDO_OPEN in output
    assert english_left(output, WORDS | quoted) == [], output


def test_dkim_says_everything_but_the_record_through_the_catalog(tmp_path: Path) -> None:
    output = postwarden(["dkim", "generate", "--domain", "example.com", "--bits", "1024"], tmp_path)
    assert "-----BEGIN PRIVATE KEY-----" in output
    # the key is data: its last base64 line is short and may look like a word
    words = re.sub(r"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----", "", output, flags=re.S)
    assert "-----" not in words, output
    assert english_left(words, WORDS | {"IN", "TXT"}) == [], output


@pytest.mark.parametrize("command", sorted(NEED_INSTALL), ids=str)
def test_the_refusal_without_an_install_is_said_through_the_catalog(command: str, tmp_path: Path) -> None:
    output = postwarden([command, *NEED_INSTALL[command]], tmp_path)
    assert output.startswith(f"postwarden {command}: {PSEUDO_OPEN}"), output
    assert english_left(output, WORDS) == [], output

"""Every ``postwarden`` command against a data directory that holds no usable install
(issue #11): missing, empty, an empty database file, a database with no Postwarden tables,
an older database, and a PostgreSQL server that does not answer. The commands are found by
walking the CLI's argparse tree, not listed here.

A command that needs the install says so in one line naming the fix and exits 2; the
commands that need none (WITHOUT_INSTALL) run and exit with their documented status. No
traceback reaches the user, nothing is created anywhere (data directory, working
directory, home), and a password in DATABASE_URL is never shown. Every command's
``--help`` works anywhere and creates nothing, the start-up commands' included."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from postwarden.cli.main import START_UP, WITHOUT_INSTALL, parser_tree
from tests.ports import free_port

pytestmark = pytest.mark.slow

#: a secret key long enough to be a real one
KEY = "install-test-secret-key-0123456789abcdefghijklmnop"
#: the password in an unreachable DATABASE_URL, which no output may show
DB_PASSWORD = "Pg5ecret-never-shown-0123"
STATES = ("missing", "empty", "zero-byte database", "no tables", "older database", "unreachable postgres")


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command of the tree: (its words, its parser)."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


def sample(action: argparse.Action) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    return "1" if action.type in (int, float) else "someone@example.com"


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """The least a parser takes: its required options and positionals, with a sample value."""
    argv: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.option_strings and action.required:
            argv += [action.option_strings[0], sample(action)]
        elif not action.option_strings and action.nargs in (None, 1, "+"):
            argv.append(sample(action))
    return argv


COMMANDS = sorted(leaves(parser_tree()), key=lambda leaf: leaf[0])
NEED_INSTALL = [(words, required_arguments(p)) for words, p in COMMANDS if words[0] not in START_UP]


def test_the_walk_finds_the_commands() -> None:
    """The tree is the CLI's: a command added to it is walked without changing this file."""
    words = {leaf[0] for leaf in COMMANDS}
    assert {("apikey", "create"), ("apikey", "revoke"), ("send-test",), ("doctor",), ("serve",)} <= words
    assert len(NEED_INSTALL) >= 8


def make_state(root: Path, state: str) -> dict[str, str]:
    """The data directory (or database) in ``state``; returns the variables pointing at it."""
    data = root / "data"
    env = {"POSTWARDEN_DATA_DIR": str(data)}
    if state == "missing":
        return env
    data.mkdir()
    if state == "empty":
        return env
    (data / "secret_key").write_text(KEY + "\n")
    database = data / "postwarden.sqlite3"
    if state == "zero-byte database":
        database.touch()
    elif state == "no tables":
        with closing(sqlite3.connect(database)) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
            db.commit()
    elif state == "older database":  # only the first migration of one app applied
        with closing(sqlite3.connect(database)) as db:
            db.execute(
                "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)"
            )
            db.execute(
                "INSERT INTO django_migrations (app, name, applied) "
                "VALUES ('contenttypes', '0001_initial', '2024-01-01')"
            )
            db.commit()
    elif state == "unreachable postgres":
        env["DATABASE_URL"] = f"postgres://postwarden:{DB_PASSWORD}@127.0.0.1:{free_port()}/postwarden"
    return env


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def run_cli(root: Path, argv: list[str], more: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``postwarden ARGV`` from a directory of its own, with a home of its own, and none
    of the caller's Postwarden settings."""
    cwd, home = root / "elsewhere", root / "home"
    cwd.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "EMAIL_", "DKIM_", "DJANGO_", "XDG_"))
        and k not in ("DATABASE_URL", "TEST_EMAIL", "STATE_DIRECTORY")
    }
    env.update(HOME=str(home), **more)
    return subprocess.run(
        [sys.executable, "-m", "postwarden", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(("words", "argv"), NEED_INSTALL, ids=[" ".join(w) for w, _ in NEED_INSTALL])
def test_a_command_without_an_install_says_so_in_one_line(
    tmp_path: Path, words: tuple[str, ...], argv: list[str], state: str
) -> None:
    env = make_state(tmp_path, state)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "home").mkdir()
    before = files_under(tmp_path)
    done = run_cli(tmp_path, [*words, *argv], env)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert DB_PASSWORD not in output
    assert files_under(tmp_path) == before, f"{words} created files:\n{output}"
    if words[0] in WITHOUT_INSTALL:
        assert done.returncode in (0, 1, 2), output
        if done.returncode == 2:
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return
    assert done.returncode == 2, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"postwarden {words[0]}: "), lines
    # the fix is named: where the install should be, or the command that makes it
    assert any(fix in lines[0] for fix in ("postwarden migrate", "POSTWARDEN_DATA_DIR", "DATABASE_URL")), (
        lines[0]
    )
    assert done.stdout == ""  # a script's $(…) gets nothing rather than something wrong


@pytest.mark.parametrize("words", [w for w, _ in COMMANDS], ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_help_works_anywhere_and_creates_nothing(tmp_path: Path, words: tuple[str, ...]) -> None:
    env = make_state(tmp_path, "missing")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "home").mkdir()
    before = files_under(tmp_path)
    done = run_cli(tmp_path, [*words, "--help"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "usage:" in done.stdout.lower()
    assert files_under(tmp_path) == before


def test_an_install_made_once_is_used_from_any_directory(tmp_path: Path) -> None:
    """``migrate`` makes the install (and the first admin); then ``apikey create`` run
    from elsewhere prints the key as its last line, the README's ``KEY=$(… | tail -n 1)``."""
    env = {"POSTWARDEN_DATA_DIR": str(tmp_path / "data"), "POSTWARDEN_ADMIN_EMAIL": "ops@example.com"}
    made = run_cli(tmp_path, ["migrate"], env)
    assert made.returncode == 0, made.stderr
    assert "Created the first admin: ops@example.com with password" in made.stdout
    assert {"postwarden.sqlite3", "secret_key"} <= {p.name for p in (tmp_path / "data").iterdir()}
    created = run_cli(tmp_path, ["apikey", "create", "--name", "app", "--scope", "send"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[-1]
    assert key.startswith("pw_")
    listed = run_cli(tmp_path, ["apikey", "list"], env)
    assert "app" in listed.stdout
    again = run_cli(tmp_path, ["migrate"], env)
    assert "Created the first admin" not in again.stdout  # once per install

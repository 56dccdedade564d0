"""``postwarden`` command line.

Commands are imported lazily: ``doctor`` and ``explain`` must start fast and run without
Django or a database (docs/architecture.md), so nothing here imports Django. Each command's
module has ``build_parser()`` and ``run(argv) -> int``; :func:`parser_tree` puts every
command's parser under one root (``--help`` and the tests walk it).

No traceback reaches the user: a command that cannot run says why in one line
(:class:`~postwarden.cli.django_setup.CommandError`, exit 2), and anything unexpected is
one line too, its text run through the redactors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

import postwarden
from postwarden.cli import argparse_i18n
from postwarden.core import i18n
from postwarden.core.i18n import Text, gettext, localize

#: command -> (module with ``build_parser()`` and ``run(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, Text]] = {
    "serve": (
        "postwarden.cli.serve",
        Text("run the console, a worker, the SMTP relay and the monitor (one machine)"),
    ),
    "web": ("postwarden.cli.web", Text("run only the web console and API")),
    "worker": ("postwarden.cli.worker", Text("run only a delivery worker")),
    "relay": ("postwarden.cli.relay", Text("run only the SMTP relay that apps submit mail to")),
    "monitor": (
        "postwarden.cli.monitor",
        Text("run only the periodic jobs (alerts, canaries, the scheduled doctor), one node at a time"),
    ),
    "bounces": (
        "postwarden.cli.bounces",
        Text("run only the bounce listener and bounce mailbox poller for BOUNCE_DOMAIN (SMTP senders)"),
    ),
    "send-test": (
        "postwarden.cli.send_test",
        Text("send a test mail the way real mail goes, showing the transcript"),
    ),
    "doctor": ("postwarden.cli.doctor", Text("walk the delivery path and name the first broken stage")),
    "explain": ("postwarden.cli.explain", Text("explain an SMTP reply or error and what to do about it")),
    "migrate": ("postwarden.cli.migrate", Text("create or upgrade the install (database, first admin)")),
    "createadmin": ("postwarden.cli.createadmin", Text("create a console user")),
    "apikey": ("postwarden.cli.apikey", Text("create, list or revoke API keys")),
    "canary": (
        "postwarden.cli.canary",
        Text("list the canary mailboxes, or run them now and wait for the result"),
    ),
    "dkim": ("postwarden.cli.dkim", Text("generate a DKIM key pair and the TXT record to publish")),
    "oauth2": (
        "postwarden.cli.oauth2",
        Text("connect a person's mailbox for OAuth2 sign-in (Microsoft: device code; others: sign-in URL)"),
    ),
    "copy-database": (
        "postwarden.cli.copy_database",
        Text("copy this install's database into another, empty one (SQLite to PostgreSQL)"),
    ),
    "manage": ("postwarden.cli.manage", Text("run a Django management command (advanced)")),
}

#: the commands that make the install when there is none (docs/deploy.md); every other
#: command refuses with the fix when the data directory holds no install
START_UP: frozenset[str] = frozenset({"serve", "web", "worker", "relay", "monitor", "bounces", "migrate"})
#: the commands that need no install at all (the doctor reads one when it is there)
WITHOUT_INSTALL: frozenset[str] = frozenset({"doctor", "explain", "dkim"})


def usage() -> str:
    """The list of commands, in the active language."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        gettext("usage: postwarden <command> [options]   (version {version})").format(
            version=postwarden.__version__
        ),
        "",
        gettext("commands:"),
    ]
    lines += [f"  {name:<{width}}  {localize(help_)}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", gettext("Run 'postwarden <command> --help' for a command's options.")]
    return "\n".join(lines)


def module_of(command: str) -> ModuleType:
    return importlib.import_module(COMMANDS[command][0])


def parser_tree() -> argparse.ArgumentParser:
    """Every command's parser under one root (imports every command module)."""
    root = argparse.ArgumentParser(prog="postwarden", description=usage())
    root.add_argument(
        "-V",
        "--version",
        action="version",
        version=postwarden.__version__,
        help=gettext("show program's version number and exit"),
    )
    commands = root.add_subparsers(dest="command", metavar="<command>")
    for name, (_, help_) in COMMANDS.items():
        own: argparse.ArgumentParser = module_of(name).build_parser()
        commands.add_parser(
            name,
            parents=[own],
            add_help=False,
            help=localize(help_),
            description=own.description,
            prog=own.prog,
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # the reader's locale first, then the instance's POSTWARDEN_LANGUAGE (core/i18n.py)
    i18n.activate(i18n.language_from_environ(os.environ))
    argparse_i18n.install()
    try:
        status = _dispatch(args)
        sys.stdout.flush()  # here, not at exit, where a reader gone away could not be handled
        return status
    except BrokenPipeError:
        return _reader_gone()


def _dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(postwarden.__version__)
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        unknown = gettext("unknown command {command}").format(command=repr(command))
        print(f"postwarden: {unknown}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        return int(module_of(command).run(rest))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # main's: the reader went away, which is no failure of the command
    except SystemExit as exc:  # argparse: usage errors are 2, --help is 0
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else _say(command, exc.code))
    except Exception as exc:
        return _say(command, exc)


def _reader_gone() -> int:
    """The reader of standard output went away (``postwarden explain … | head -1``): stop
    quietly as other Unix tools do, with SIGPIPE's status. What is still buffered goes to
    /dev/null, or flushing it at exit would fail again with a message."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13  # SIGPIPE


def _say(command: str, what: object) -> int:
    """One line on standard error for a command that could not run; its exit status."""
    from postwarden.cli.django_setup import CommandError

    status = what.status if isinstance(what, CommandError) else 2
    if isinstance(what, CommandError):
        text = localize(what.message)
    elif isinstance(what, str):
        text = what
    else:
        text = f"{type(what).__name__}: {_first_line(str(what))}"
    print(f"postwarden {command}: {_redacted(text)}", file=sys.stderr, flush=True)
    return status


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else gettext("(no details)")


def _redacted(text: str) -> str:
    """What looks like a credential, and every secret the process registered, masked."""
    from postwarden.core.replies.parse import redact
    from postwarden.logs import redact as redact_registered

    return redact_registered(redact(text))


if __name__ == "__main__":
    raise SystemExit(main())

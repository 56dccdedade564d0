"""``postwarden`` command line.

Commands are imported lazily: ``doctor`` and ``explain`` must start fast and run without
Django or a database (ARCHITECTURE.md), so nothing here imports Django.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import postwarden

#: command -> (module with ``run(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("postwarden.cli.serve", "run the console, a worker and the SMTP relay (one machine)"),
    "web": ("postwarden.cli.web", "run only the web console and API"),
    "worker": ("postwarden.cli.worker", "run only a delivery worker"),
    "relay": ("postwarden.cli.relay", "run only the SMTP relay that apps submit mail to"),
    "send-test": (
        "postwarden.cli.send_test",
        "send a test mail the way real mail goes, showing the transcript",
    ),
    "doctor": ("postwarden.cli.doctor", "walk the delivery path and name the first broken stage"),
    "explain": ("postwarden.cli.explain", "explain an SMTP reply or error and what to do about it"),
    "migrate": ("postwarden.cli.manage", "create or upgrade the database"),
    "createadmin": ("postwarden.cli.manage", "create a console admin"),
    "apikey": ("postwarden.cli.apikey", "create, list or revoke API keys"),
    "dkim": ("postwarden.cli.dkim", "generate a DKIM key pair and the TXT record to publish"),
    "manage": ("postwarden.cli.manage", "run a Django management command (advanced)"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: postwarden <command> [options]   (version {postwarden.__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'postwarden <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(postwarden.__version__)
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"postwarden: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    if module.__name__.endswith(".manage"):
        return int(module.run([command, *rest]))
    return int(module.run(rest))


if __name__ == "__main__":
    raise SystemExit(main())

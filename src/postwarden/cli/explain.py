"""``postwarden explain "<reply>" [--stage STAGE] [--json]``: what an SMTP reply means.

Runs on the framework-free core only: no Django, no database, no settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from postwarden.core.i18n import gettext
from postwarden.core.replies.explain import explain_text, render

_STAGES = "connect, greeting, ehlo, starttls, tls, auth, mail, rcpt, data ('MAIL FROM', 'RCPT TO' …)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden explain",
        description=gettext(
            "Explain an SMTP reply or a sending error, and what to do about it. "
            "Paste the text as it was printed (Java, Go, Python and Ruby error chains are fine); "
            "without text, it is read from standard input."
        ),
    )
    parser.add_argument("text", nargs="*", help=gettext("the reply or error text"))
    parser.add_argument(
        "--stage", help=gettext("the step the reply answered: {stages}").format(stages=_STAGES)
    )
    parser.add_argument("--port", type=int, help=gettext("the server port, when the text does not say"))
    parser.add_argument("--host", help=gettext("the server host name, when the text does not say"))
    parser.add_argument("--json", action="store_true", help=gettext("print the explanation as JSON"))
    parser.add_argument("--no-color", action="store_true", help=gettext("plain text, no colours"))
    return parser


def run(argv: list[str]) -> int:
    """Print the explanation; 0 on success, 2 on bad usage."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    text = " ".join(args.text) if args.text else ("" if sys.stdin.isatty() else sys.stdin.read())
    if not text.strip():
        hint = gettext("give the reply text, e.g. {example}").format(
            example='postwarden explain "535 5.7.8 …"'
        )
        print(f"postwarden explain: {hint}", file=sys.stderr)
        return 2
    expl = explain_text(text, stage=args.stage, port=args.port, host=args.host)
    if args.json:
        print(json.dumps(expl.to_dict(), indent=2, ensure_ascii=False))
    else:
        color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(render(expl, color=color))
    return 0

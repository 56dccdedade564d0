"""``postwarden oauth2 connect``: connect a person's mailbox from a machine without a
browser, the command-line form of the console's "Connect account". Microsoft: the
device-code flow. Google (whose device flow does not allow Gmail's scope) and generic: the
authorization URL with a loopback redirect URI (``http://127.0.0.1/``, which Google
accepts for desktop clients); the person opens it in any browser, signs in, and pastes the
address the browser was sent back to (its page does not load: nothing listens there).
The refresh token is saved sealed in the settings store as OAUTH2_REFRESH_TOKEN and never
printed; the command ends by getting an access token with it, so what it prints is the
token step the worker will take.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Final, TextIO
from urllib.parse import parse_qsl, urlsplit

from postwarden.cli.django_setup import CommandError, setup
from postwarden.core.i18n import Text, gettext

LOOPBACK: Final = "http://127.0.0.1/"


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="postwarden oauth2", description=gettext("Connect a person's mailbox for OAuth2 SMTP sign-in.")
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{connect}")
    connect = commands.add_parser(
        "connect", help=gettext("sign the mailbox in on another device and save its refresh token")
    )
    connect.add_argument(
        "--timeout", type=float, default=20.0, help=gettext("seconds for each request (default 20)")
    )
    connect.add_argument(
        "--redirect-uri",
        default=LOOPBACK,
        help=gettext("Google/generic: the redirect URI registered for the client (default {uri})").format(
            uri=LOOPBACK
        ),
    )
    return root


def run(argv: list[str], *, out: TextIO | None = None, inp: TextIO | None = None) -> int:
    """Exit status: 0 connected, 1 the identity platform refused, 2 unusable settings."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    inp = inp or sys.stdin
    setup()
    from postwarden.configstore.runtime import current_settings, save
    from postwarden.core.oauth import delegated
    from postwarden.core.oauth.cache import source_for
    from postwarden.core.oauth.errors import TokenError

    settings = current_settings()
    oauth2 = settings.smtp.oauth2
    if oauth2 is None:
        raise CommandError(
            Text("SMTP_AUTH is not oauth2: set SMTP_AUTH=oauth2 and OAUTH2_PROVIDER=microsoft first")
        )
    if settings.source("OAUTH2_REFRESH_TOKEN").locks_console_field:
        raise CommandError(
            Text("OAUTH2_REFRESH_TOKEN is set in the environment: remove it there to connect here")
        )
    try:
        if delegated.uses_device_code(oauth2):
            flow = delegated.start_device(oauth2, timeout=args.timeout)
            print(flow["message"], file=out, flush=True)
            refresh = delegated.finish_device(oauth2, flow, timeout=args.timeout)
        else:
            url, flow = delegated.start_authorization(
                oauth2, redirect_uri=args.redirect_uri, login_hint=settings.smtp.user, timeout=args.timeout
            )
            open_it = gettext("Open this address in a browser on any device and sign in as {user}:")
            print(open_it.format(user=settings.smtp.user), file=out)
            print(url, file=out)
            paste = gettext(
                "The browser is then sent to an address starting with "
                "{uri} (its page may not load): paste that whole address here."
            )
            print(paste.format(uri=args.redirect_uri), file=out, flush=True)
            answer = _answer(inp.readline())
            refresh = delegated.finish_authorization(oauth2, flow, answer, timeout=args.timeout)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except TokenError as exc:
        print(gettext("Not connected: {error}").format(error=exc), file=out)
        return 1
    save({"OAUTH2_REFRESH_TOKEN": refresh.reveal()})
    from dataclasses import replace

    try:
        token = source_for(
            replace(oauth2, refresh_token=refresh), user=settings.smtp.user, timeout=args.timeout
        ).fetch()
    except (ValueError, TokenError) as exc:
        print(gettext("Connected, but the first token failed: {error}").format(error=exc), file=out)
        return 1
    connected = gettext("Connected. The refresh token is saved (sealed) as OAUTH2_REFRESH_TOKEN; {token}.")
    print(connected.format(token=token.describe()), file=out)
    return 0


def _answer(line: str) -> Mapping[str, str]:
    """The query of the address pasted back (the code, the state, or the refusal)."""
    text = line.strip()
    if not text:
        raise ValueError(gettext("no address was pasted: run postwarden oauth2 connect again"))
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    return dict(parse_qsl(query))

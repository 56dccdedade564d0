"""``postwarden oauth2 connect``: connect a person's Microsoft 365 mailbox from a machine
without a browser (the device-code flow), the command-line form of the console's
"Connect account". The refresh token is saved sealed in the settings store as
OAUTH2_REFRESH_TOKEN and never printed; the command ends by getting an access token with
it, so what it prints is the token step the worker will take.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from postwarden.cli.django_setup import CommandError, setup


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="postwarden oauth2", description="Connect a person's mailbox for OAuth2 SMTP sign-in."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{connect}")
    connect = commands.add_parser(
        "connect", help="sign the mailbox in on another device (device code) and save its refresh token"
    )
    connect.add_argument("--timeout", type=float, default=20.0, help="seconds for each request (default 20)")
    return root


def run(argv: list[str], *, out: TextIO | None = None) -> int:
    """Exit status: 0 connected, 1 the identity platform refused, 2 unusable settings."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    setup()
    from postwarden.configstore.runtime import current_settings, save
    from postwarden.core.oauth import delegated
    from postwarden.core.oauth.cache import source_for
    from postwarden.core.oauth.errors import TokenError

    settings = current_settings()
    oauth2 = settings.smtp.oauth2
    if oauth2 is None:
        raise CommandError(
            "SMTP_AUTH is not oauth2: set SMTP_AUTH=oauth2 and OAUTH2_PROVIDER=microsoft first"
        )
    if settings.source("OAUTH2_REFRESH_TOKEN").locks_console_field:
        raise CommandError("OAUTH2_REFRESH_TOKEN is set in the environment: remove it there to connect here")
    try:
        flow = delegated.start_device(oauth2, timeout=args.timeout)
        print(flow["message"], file=out, flush=True)
        refresh = delegated.finish_device(oauth2, flow, timeout=args.timeout)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except TokenError as exc:
        print(f"Not connected: {exc}", file=out)
        return 1
    save({"OAUTH2_REFRESH_TOKEN": refresh.reveal()})
    from dataclasses import replace

    try:
        token = source_for(
            replace(oauth2, refresh_token=refresh), user=settings.smtp.user, timeout=args.timeout
        ).fetch()
    except (ValueError, TokenError) as exc:
        print(f"Connected, but the first token failed: {exc}", file=out)
        return 1
    print(
        f"Connected. The refresh token is saved (sealed) as OAUTH2_REFRESH_TOKEN; {token.describe()}.",
        file=out,
    )
    return 0

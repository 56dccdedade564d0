"""``postwarden apikey create|list|revoke``: API keys from the command line.

``create`` prints the new key as the LAST line of its output, alone, so a script can take
it with ``| tail -n 1``. The key is shown once and never logged; only its hash is stored.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from postwarden.cli.django_setup import setup
from postwarden.core.i18n import format_datetime, gettext

if TYPE_CHECKING:
    from postwarden.accounts.models import ApiKey

SCOPES = ("send", "read", "admin")


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="postwarden apikey", description=gettext("Create, list or revoke API keys.")
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{create,list,revoke}")
    create = commands.add_parser("create", help=gettext("create a key and print it (last line)"))
    create.add_argument(
        "--name", required=True, help=gettext("what the key is for, e.g. the application's name")
    )
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        required=True,
        dest="scopes",
        help=gettext("send, read or admin; repeat for several"),
    )
    # the listing is English on purpose: scripts read its columns
    listing = commands.add_parser("list", help=gettext("list keys (never the keys themselves)"))
    listing.add_argument("--all", action="store_true", help=gettext("include revoked keys"))
    revoke = commands.add_parser("revoke", help=gettext("revoke a key by its id or prefix"))
    revoke.add_argument(
        "key", metavar="ID|PREFIX", help=gettext("the id (from list) or the prefix, with or without pw_")
    )
    return root


def run(argv: list[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit status: 0 done, 1 no such key, 2 usage error (argparse)."""
    args = build_parser().parse_args(argv)
    out, err = out or sys.stdout, err or sys.stderr
    setup()
    if args.command == "create":
        return _create(args.name, args.scopes, out)
    if args.command == "list":
        return _list(args.all, out)
    return _revoke(args.key, out, err)


def _create(name: str, scopes: list[str], out: TextIO) -> int:
    from postwarden.accounts.models import KEY_PREFIX, ApiKey

    row, plain = ApiKey.issue(name.strip(), scopes)
    scopes_text = ", ".join(row.scopes)
    created = gettext("Created API key {id} {name}: scopes {scopes}, prefix {prefix}")
    print(
        created.format(id=row.pk, name=repr(row.name), scopes=scopes_text, prefix=KEY_PREFIX + row.prefix),
        file=out,
    )
    print(gettext("It is shown only this once; store it now:"), file=out)
    print(plain, file=out)
    return 0


def _list(include_revoked: bool, out: TextIO) -> int:
    from postwarden.accounts.models import KEY_PREFIX, ApiKey

    rows = ApiKey.objects.all() if include_revoked else ApiKey.objects.filter(revoked_at__isnull=True)
    # the column heads and states a person reads, in the reader's language
    key, prefix, name, scopes = gettext("ID"), gettext("PREFIX"), gettext("NAME"), gettext("SCOPES")
    created, used, state = gettext("CREATED"), gettext("LAST USED"), gettext("STATE")
    print(f"{key:>5}  {prefix:<12}  {name:<24}  {scopes:<17}  {created:<16}  {used:<16}  {state}", file=out)
    for row in rows.order_by("id"):
        state = gettext("revoked") if row.revoked_at else gettext("active")
        print(
            f"{row.pk:>5}  {KEY_PREFIX + row.prefix:<12}  {row.name[:24]:<24}  {','.join(row.scopes):<17}  "
            f"{_when(row.created_at):<16}  {_when(row.last_used_at):<16}  {state}",
            file=out,
        )
    return 0


def _when(value: object) -> str:
    from datetime import datetime

    return format_datetime(value, seconds=False) if isinstance(value, datetime) else gettext("never")


def _find(text: str) -> ApiKey | None:
    from postwarden.accounts.models import KEY_PREFIX, ApiKey

    text = text.strip()
    prefix = text.removeprefix(KEY_PREFIX).split("_", 1)[0]
    # a prefix is 8 hex digits, which may all be decimal ones: a prefix that exists wins
    by_prefix = ApiKey.objects.filter(prefix=prefix).first() if prefix else None
    if by_prefix is None and text.isdigit():
        return ApiKey.objects.filter(pk=int(text)).first()
    return by_prefix


def _revoke(text: str, out: TextIO, err: TextIO) -> int:
    from django.utils import timezone

    row = _find(text)
    if row is None:
        # a whole key pasted by mistake must not be echoed: show its prefix only
        shown = "_".join(text.strip().split("_")[:2])
        missing = gettext("no key with id or prefix {key}").format(key=repr(shown))
        print(f"postwarden apikey: {missing}", file=err)
        return 1
    if row.revoked_at is not None:
        print(
            gettext("API key {id} {name} was already revoked").format(id=row.pk, name=repr(row.name)),
            file=out,
        )
        return 0
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    print(gettext("Revoked API key {id} {name}").format(id=row.pk, name=repr(row.name)), file=out)
    return 0

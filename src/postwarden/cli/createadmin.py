"""``postwarden createadmin --email E [--role R] [--password-stdin]``: a console user."""

from __future__ import annotations

import argparse
import getpass
import sys

from postwarden.cli.django_setup import setup
from postwarden.core.i18n import gettext


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden createadmin", description=gettext("Create a console user.")
    )
    parser.add_argument(
        "--email", required=True, help=gettext("the user's email address, their sign-in name")
    )
    parser.add_argument("--role", default="admin", help=gettext("admin (the default), settings or viewer"))
    parser.add_argument(
        "--password-stdin", action="store_true", help=gettext("read the password from standard input")
    )
    return parser


def run(argv: list[str]) -> int:
    """Exit status: 0 created, 1 exists already or a password that is refused, 2 no install
    or an address that is not one."""
    args = build_parser().parse_args(argv)
    setup()
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from postwarden.accounts.bootstrap import create_admin
    from postwarden.accounts.models import Role, User

    if args.role not in Role.values:
        one_of = gettext("one of {roles}").format(roles=", ".join(Role.values))
        print(f"postwarden createadmin: --role: {one_of}", file=sys.stderr)
        return 2
    try:
        validate_email(args.email)
    except ValidationError as exc:  # Django's words, in the language the command line chose
        print(f"postwarden createadmin: --email: {' '.join(exc.messages)}", file=sys.stderr)
        return 2
    if User.objects.filter(username=args.email).exists():
        exists = gettext("a user {email} exists already").format(email=args.email)
        print(f"postwarden createadmin: {exists}", file=sys.stderr)
        return 1
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(gettext("Password: "))
    )
    try:
        validate_password(password)
    except ValidationError as exc:
        print("postwarden createadmin: " + " ".join(exc.messages), file=sys.stderr)
        return 1
    create_admin(args.email, password, Role(args.role))
    print(gettext("Created {role} {email}").format(role=args.role, email=args.email))
    return 0

"""The first admin: from POSTWARDEN_ADMIN_EMAIL/POSTWARDEN_ADMIN_PASSWORD, or a generated
password printed once on the terminal (never logged: log files outlive the terminal)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from postwarden.accounts.models import Role, User

DEFAULT_ADMIN_EMAIL = "admin@localhost"


@transaction.atomic
def ensure_first_admin() -> str | None:
    """Create the first admin when there is no user yet. Returns the line to print once
    (with a generated password), or None when nothing was created or nothing must be shown."""
    if User.objects.exists():
        return None
    service = settings.SERVICE_SETTINGS.service
    email = service.admin_email or DEFAULT_ADMIN_EMAIL
    password = service.admin_password.reveal()
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    create_admin(email, password)
    if generated:
        return (
            f"Created the first admin: {email} with password {password} "
            "(shown once; change it in the console)"
        )
    return f"Created the first admin: {email} (password from POSTWARDEN_ADMIN_PASSWORD)"


def create_admin(email: str, password: str, role: Role = Role.ADMIN) -> User:
    user = User(username=email, email=email, role=role, is_staff=role == Role.ADMIN)
    user.set_password(password)
    user.save()
    return user


def createadmin_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="postwarden createadmin", description="Create a console user.")
    parser.add_argument("--email", required=True)
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if User.objects.filter(username=args.email).exists():
        print(f"postwarden: a user {args.email} exists already", file=sys.stderr)
        return 1
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        validate_password(password)
    except ValidationError as exc:
        print("postwarden: " + " ".join(exc.messages), file=sys.stderr)
        return 1
    create_admin(args.email, password, Role(args.role))
    print(f"Created {args.role} {args.email}")
    return 0

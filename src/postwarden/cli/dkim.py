"""``postwarden dkim generate [--selector S] [--domain D] [--bits 2048] [--out FILE]``:
a new DKIM key pair and the exact TXT record to publish. Needs no database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from postwarden.core.addresses import InvalidAddress, normalize_domain
from postwarden.core.config.resolve import ConfigError, env_layers, resolve
from postwarden.core.dkim import generate_key, public_key_of, txt_record
from postwarden.core.i18n import gettext, localize, said

DEFAULT_SELECTOR = "postwarden"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden dkim",
        description=gettext("A new DKIM key pair and the exact TXT record to publish. Needs no database."),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{generate}")
    gen = commands.add_parser("generate", help=gettext("make a key pair and print the TXT record to publish"))
    gen.add_argument(
        "--selector",
        default=None,
        help=gettext("the s= selector (default DKIM_SELECTOR, else {default})").format(
            default=repr(DEFAULT_SELECTOR)
        ),
    )
    gen.add_argument(
        "--domain",
        default=None,
        help=gettext("the d= domain (default DKIM_DOMAIN, else the MAIL_FROM domain)"),
    )
    gen.add_argument("--bits", type=int, default=2048, help=gettext("RSA key size (default 2048)"))
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        help=gettext("write the private key to this file (mode 0600) instead of printing it"),
    )
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    selector, domain = _defaults(args.selector, args.domain)
    if not domain:
        return _fail(gettext("no domain: give --domain, or set DKIM_DOMAIN or MAIL_FROM"))
    try:
        domain = normalize_domain(domain)
    except InvalidAddress as exc:
        return _fail(f"--domain: {localize(said(exc))}")
    try:
        key = generate_key(args.bits)
    except ValueError as exc:
        return _fail(localize(said(exc)))
    record = txt_record(selector, domain, public_key_of(key))
    if args.out is not None:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.reveal())
        written = gettext("private key written to {path} (mode 0600): set DKIM_PRIVATE_KEY_FILE={path}")
        print("# " + written.format(path=args.out))
    else:
        print(
            "# "
            + gettext(
                "private key: keep it secret; set it as DKIM_PRIVATE_KEY "
                "(or in a file, DKIM_PRIVATE_KEY_FILE)"
            )
        )
        print(key.reveal(), end="")
    then = gettext("then DKIM_SELECTOR={selector} and DKIM_DOMAIN={domain}, and publish this TXT record:")
    print("# " + then.format(selector=selector, domain=domain))
    # the record's two fields keep their DNS names: they are what a zone editor asks for
    print(f"name:  {record.name}")
    print(f"value: {record.value}")
    strings = gettext("as DNS character-strings of at most 255 octets ({count}), for zone files:")
    print("# " + strings.format(count=len(record.strings)))
    print(record.zone_line())
    return 0


def _fail(text: str) -> int:
    print(f"postwarden dkim: {text}", file=sys.stderr)
    return 2


def _defaults(selector: str | None, domain: str | None) -> tuple[str, str | None]:
    try:
        settings = resolve(*env_layers())
    except ConfigError:
        return selector or DEFAULT_SELECTOR, domain
    # signing.domain is DKIM_DOMAIN, else the MAIL_FROM domain (the resolver decides)
    signing = settings.signing
    return selector or signing.selector or DEFAULT_SELECTOR, domain or signing.domain

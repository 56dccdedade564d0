"""``postwarden doctor``: walk the delivery path and name the first broken stage.

Runs from the framework-free core with no database. When the service's database is
configured and reachable it adds what the database knows (queue, workers, suppressions,
settings saved in the console), read with plain SQL (doctor/db_reads.py) rather than by
setting Django up, which cost more than the rest of the run; only ``--send`` sets Django
up (a provider's test mail goes through the worker's transport). Without a database
those checks say "skipped". Exit status (docs/spec/doctor.md): 0 no error, 1 an error, 2 could not run.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from postwarden.core.config.model import Origin, Settings
from postwarden.core.config.resolve import ConfigError, Layer, env_layers, resolve
from postwarden.core.dns import parse_server
from postwarden.core.doctor import render
from postwarden.core.doctor.context import CheckCallback, Options, recipient_of
from postwarden.core.doctor.model import STAGE_ORDER, Report
from postwarden.core.doctor.runner import run_sync
from postwarden.core.i18n import Text, gettext, localize, said

#: how long the doctor waits to learn whether a PostgreSQL server is there
_DB_PROBE_SECONDS = 0.5


class UsageError(Exception):
    """Bad arguments or settings: exit 2 with the message."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden doctor",
        description=gettext(
            "Walk the delivery path (settings, queue, network, TLS, auth, envelope, policy, provider, "
            "DNS, links) and name the first broken stage with the evidence and the fix."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help=gettext("print only the JSON report on standard output")
    )
    parser.add_argument(
        "--to",
        metavar=gettext("ADDRESS"),
        help=gettext("recipient of the probe (default TEST_EMAIL, else From)"),
    )
    parser.add_argument(
        "--send", action="store_true", help=gettext("send a real test mail instead of MAIL/RCPT/RSET")
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar=gettext("SOURCE"),
        default="env",
        help=gettext(
            "read settings written for another product: metabase-env, mattermost:PATH, "
            "django:MODULE (default: env)"
        ),
    )
    parser.add_argument(
        "--dns-server",
        metavar=gettext("HOST[:PORT]"),
        help=gettext("ask this resolver every DNS question (default POSTWARDEN_DNS_SERVER)"),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar=gettext("SECONDS"),
        help=gettext("seconds per network step (default SMTP_TIMEOUT, at most 10)"),
    )
    parser.add_argument(
        "--only",
        metavar=gettext("STAGE[,STAGE]"),
        help=gettext("check only these stages: {stages}").format(stages=", ".join(STAGE_ORDER)),
    )
    return parser


@dataclass(frozen=True, slots=True)
class Loaded:
    """Settings layers (strongest first, stored values not yet added) and what the
    importer noted."""

    layers: tuple[Layer, ...]
    notes: tuple[str, ...]


def options_from(args: argparse.Namespace) -> Options:
    only = frozenset(s.strip() for s in (args.only or "").split(",") if s.strip())
    unknown = sorted(only - set(STAGE_ORDER))
    if unknown:
        raise UsageError(
            gettext("--only: unknown stage {unknown} (stages: {stages})").format(
                unknown=", ".join(unknown), stages=", ".join(STAGE_ORDER)
            )
        )
    if args.timeout is not None and not 0 < args.timeout <= 600:
        raise UsageError(gettext("--timeout must be more than 0 and at most 600 seconds"))
    if args.dns_server:
        try:
            parse_server(args.dns_server)
        except ValueError as exc:
            raise UsageError(f"--dns-server: {localize(said(exc))}") from None
    return Options(to=args.to, send=args.send, dns_server=args.dns_server, timeout=args.timeout, only=only)


def load_layers(source: str, environ: Mapping[str, str], dotenv: Path | None = Path(".env")) -> Loaded:
    """The environment (and .env), preceded by what ``--from`` imported. Raises UsageError."""
    base = env_layers(environ, dotenv)
    if source in ("", "env"):
        return Loaded(tuple(base), ())
    try:
        from postwarden.core.config.importers import load
    except ImportError as exc:  # pragma: no cover - the importers ship with the core
        raise UsageError(
            gettext("--from {source}: the importers are not available ({error})").format(
                source=source, error=exc
            )
        ) from None
    try:
        imported = load(source, environ=environ)
    except ValueError as exc:  # ImporterError: unreadable file, bad JSON, unknown source
        raise UsageError(f"--from {source}: {exc}") from None
    layer = Layer(Origin.IMPORT, dict(imported.values), dict(imported.origins))
    notes = (Text("settings imported from {source}", source=source), *imported.notes)
    return Loaded((layer, *base), notes)


def database_reachable(settings: Settings) -> bool:
    """Whether the service's database is there, without importing Django: an SQLite file
    that exists, or a PostgreSQL server that accepts a TCP connection."""
    from postwarden.cli.django_setup import sqlite_file

    url = settings.service.database_url
    if url.startswith("sqlite:"):
        path = sqlite_file(url)
        return path is not None and path.is_file() and path.stat().st_size > 0
    parts = urlsplit(url)
    if not parts.hostname or parts.hostname.startswith("/"):
        return bool(parts.scheme)  # a Unix socket: let Django try
    try:
        with socket.create_connection((parts.hostname, parts.port or 5432), _DB_PROBE_SECONDS):
            return True
    except OSError:
        return False


def _no_database(settings: Settings) -> Text:
    service = settings.service
    if service.database_url.startswith("sqlite:"):
        return Text(
            "no Postwarden install in {folder} (no database there): queue, suppression and drift "
            "checks are skipped; to check a running Postwarden, give the doctor its "
            "POSTWARDEN_DATA_DIR or DATABASE_URL",
            folder=str(service.data_dir),
        )
    return Text(
        "the database of DATABASE_URL does not answer: queue, suppression and drift checks are "
        "skipped; to check a running Postwarden, give the doctor its POSTWARDEN_DATA_DIR or DATABASE_URL"
    )


def _database_unusable(exc: Exception) -> Text:
    return Text(
        "the service's database could not be used ({kind}: {error}); queue, suppression and drift "
        "checks are skipped",
        kind=type(exc).__name__,
        error=said(exc),
    )


def diagnose(loaded: Loaded, options: Options, *, on_check: CheckCallback | None = None) -> Report:
    """Run the doctor: with the service's database when it is reachable, else core only.
    Raises UsageError for settings that cannot be used."""
    try:
        settings = resolve(*loaded.layers)
    except ConfigError as exc:
        raise UsageError(exc.said()) from None
    notes = loaded.notes
    if not database_reachable(settings):
        notes = (*notes, _no_database(settings))
    elif not options.send:
        return _with_plain_reads(loaded, settings, options, on_check, notes)
    else:
        try:
            from postwarden.cli.django_setup import setup

            setup("doctor")
            from postwarden.doctor.report import run_doctor
        except Exception as exc:  # the service's side is broken: still diagnose the path
            notes = (*notes, _database_unusable(exc))
        else:
            return run_doctor(options, layers=loaded.layers, on_check=on_check, notes=notes)
    return run_sync(settings, options, on_check=on_check, notes=notes)


def _with_plain_reads(
    loaded: Loaded,
    settings: Settings,
    options: Options,
    on_check: CheckCallback | None,
    notes: tuple[str, ...],
) -> Report:
    """The doctor with the database's facts read without Django (doctor/db_reads.py): the
    settings saved in the console first, since the network stages need them. ``--send``
    takes the Django path instead: a provider test mail goes through the worker's transport."""
    from postwarden.doctor import db_reads

    key = settings.service.secret_key  # never made here: the doctor creates nothing
    if not key:
        notes = (
            *notes,
            Text(
                "no secret key (POSTWARDEN_SECRET_KEY, or a secret_key file in {folder}): settings "
                "saved in the console and the queue are not read",
                folder=str(settings.service.data_dir),
            ),
        )
        return run_sync(settings, options, on_check=on_check, notes=notes)
    try:
        with db_reads.connect(settings.service.database_url) as db:
            stored = db_reads.stored_values(db, key)
            resolved = resolve(*loaded.layers, Layer(Origin.STORED, stored))
            now = datetime.now(UTC)
            facts = db_reads.collect(db, resolved, recipient_of(resolved, options), key, now)
    except ConfigError as exc:
        raise UsageError(exc.said()) from None
    except Exception as exc:  # unreadable, not migrated, another engine: still diagnose the path
        notes = (*notes, _database_unusable(exc))
        return run_sync(settings, options, on_check=on_check, notes=notes)
    return run_sync(resolved, options, service=facts, on_check=on_check, notes=notes)


def run(
    argv: Sequence[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse printed the usage; "bad usage" is 2
        return 0 if exc.code == 0 else 2
    try:
        options = options_from(args)
        loaded = load_layers(args.source, os.environ if environ is None else environ)
        live = None if args.json else render.print_live(out)
        report = diagnose(loaded, options, on_check=live)
    except UsageError as exc:
        err.write(f"postwarden doctor: {localize(said(exc))}\n")
        return 2
    if args.json:
        out.write(render.to_json(report) + "\n")
    else:
        out.write(render.summary(report, color=render.use_color(out)) + "\n")
    out.flush()
    return report.exit_status

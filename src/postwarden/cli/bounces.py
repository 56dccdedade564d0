"""``postwarden bounces``: receive the bounces of SMTP mail (issue #15): the bounce listener
when POSTWARDEN_BOUNCE_LISTEN is set, the bounce mailbox poller when BOUNCE_IMAP_HOST is
(``postwarden serve`` starts this as a child when either is); BOUNCE_DOMAIN must be set,
since only its return paths are taken. Stops on SIGTERM/SIGINT: no new connections, sessions
get a few seconds to finish, a poll in progress ends, exit 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from postwarden import stopping
from postwarden.cli.django_setup import start_up
from postwarden.core.i18n import gettext, localize, said

#: seconds sessions may take to finish after SIGTERM
GRACE = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden bounces",
        description=gettext(
            "Receive the bounces of SMTP mail: the bounce listener when POSTWARDEN_BOUNCE_LISTEN is set, "
            "the bounce mailbox poller when BOUNCE_IMAP_HOST is; BOUNCE_DOMAIN must be set."
        ),
    )
    parser.add_argument("--listen", help=gettext("host:port to listen on (default POSTWARDEN_BOUNCE_LISTEN)"))
    parser.add_argument(
        "--once",
        action="store_true",
        help=gettext("read the bounce mailbox once, print what was done, and exit"),
    )
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start_up("bounces")
    # aiosmtpd logs every command at INFO, addresses included
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from postwarden.bounces.listener import BounceListener, config_from_settings
    from postwarden.configstore.runtime import current_settings
    from postwarden.core.config import parse
    from postwarden.outbox.returnpaths import return_paths
    from postwarden.relay.tls import TlsConfigError

    settings = current_settings()
    verp = return_paths(settings)
    if verp is None:
        return _fail(gettext("set BOUNCE_DOMAIN (the domain of the return paths) first"))
    if args.once:
        return _poll_once(settings.bounces, verp)
    overrides: dict[str, Any] = {}
    if args.listen:
        try:
            host, port = parse.parse_host_port(args.listen, 25)
        except ValueError as exc:
            return _fail(f"--listen {args.listen!r}: {localize(said(exc))}")
        overrides = {"host": host, "port": port}
    listener = None
    if settings.bounces.listen is not None or overrides:
        try:
            listener = BounceListener(config_from_settings(settings, **overrides), verp)
        except (ValueError, TlsConfigError) as exc:
            return _fail(localize(said(exc)))
    if listener is None and not settings.bounces.imap:
        return _fail(
            gettext("set POSTWARDEN_BOUNCE_LISTEN (a listener) or BOUNCE_IMAP_HOST (a bounce mailbox)")
        )
    try:
        mailbox = settings.bounces if settings.bounces.imap else None
        return asyncio.run(stopping.until_stopped(_serve(listener, mailbox, verp)))
    except OSError as exc:
        assert listener is not None
        host, port = listener.config.host, listener.config.port
        return _fail(
            gettext("cannot listen on {address}: {error}").format(address=f"{host}:{port}", error=exc), code=1
        )


def _fail(text: str, code: int = 2) -> int:
    print(f"postwarden bounces: {text}", file=sys.stderr)
    return code


def _poll_once(bounces: Any, verp: Any) -> int:
    from postwarden.bounces.mailbox import poll

    if not bounces.imap:
        return _fail(gettext("set BOUNCE_IMAP_HOST and BOUNCE_IMAP_USER for a bounce mailbox"))
    result = poll(bounces, verp)
    done = gettext("bounce mailbox: {found} found, {taken} taken, {left} left for later")
    print(done.format(found=result.found, taken=result.taken, left=result.left))
    for error in result.errors:
        print(f"  {error}", file=sys.stderr)
    return 1 if result.errors else 0


async def _serve(listener: Any, mailbox: Any, verp: Any) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stopping.on_stop(stop.set)
    polling = None
    if listener is not None:
        await listener.start()
        host, port = listener.address
        listening = gettext("listening on {address} for {domain}").format(
            address=f"{host}:{port}", domain=verp.domain
        )
        print(f"postwarden bounces: {listening}", flush=True)
    if mailbox is not None:
        polling = loop.create_task(_poll_forever(mailbox, verp, stop))
        reading = gettext("reading {user} at {host} every {seconds} s").format(
            user=mailbox.imap_user, host=mailbox.imap_host, seconds=mailbox.imap_interval
        )
        print(f"postwarden bounces: {reading}", flush=True)
    await stop.wait()
    if listener is not None:
        await listener.stop(GRACE)
    if polling is not None:
        await polling
    logging.getLogger("postwarden.bounces").info(
        "bounces stopped", extra={"received": listener.handler.received if listener is not None else 0}
    )
    return 0


async def _poll_forever(mailbox: Any, verp: Any, stop: asyncio.Event) -> None:
    from django.db import close_old_connections

    from postwarden.bounces.mailbox import poll

    def once() -> Any:
        close_old_connections()
        return poll(mailbox, verp)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, "bounce-mailbox") as executor:
        while not stop.is_set():
            await loop.run_in_executor(executor, once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), mailbox.imap_interval)

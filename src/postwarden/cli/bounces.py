"""``postwarden bounces``: receive the bounces of SMTP mail (issue #15). Runs the bounce
listener when POSTWARDEN_BOUNCE_LISTEN is set (``postwarden serve`` then starts it as a
child); BOUNCE_DOMAIN must be set, since the listener takes only its return paths. Stops on
SIGTERM/SIGINT: no new connections, sessions get a few seconds to finish, exit 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from postwarden.cli.django_setup import start_up

#: seconds sessions may take to finish after SIGTERM
GRACE = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postwarden bounces", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", help="host:port to listen on (default POSTWARDEN_BOUNCE_LISTEN)")
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
        print("postwarden bounces: set BOUNCE_DOMAIN (the domain of the return paths) first", file=sys.stderr)
        return 2
    overrides = {}
    if args.listen:
        try:
            host, port = parse.parse_host_port(args.listen, 25)
        except ValueError as exc:
            print(f"postwarden bounces: --listen {args.listen!r}: {exc}", file=sys.stderr)
            return 2
        overrides = {"host": host, "port": port}
    try:
        config = config_from_settings(settings, **overrides)
    except (ValueError, TlsConfigError) as exc:
        print(f"postwarden bounces: {exc}", file=sys.stderr)
        return 2
    listener = BounceListener(config, verp)
    try:
        return asyncio.run(_serve(listener))
    except OSError as exc:
        print(f"postwarden bounces: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1


async def _serve(listener: object) -> int:
    from postwarden.bounces.listener import BounceListener

    assert isinstance(listener, BounceListener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await listener.start()
    host, port = listener.address
    print(f"postwarden bounces: listening on {host}:{port} for {listener.handler.verp.domain}", flush=True)
    await stop.wait()
    await listener.stop(GRACE)
    logging.getLogger("postwarden.bounces").info(
        "bounce listener stopped", extra={"received": listener.handler.received}
    )
    return 0

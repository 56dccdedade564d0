"""``postwarden relay``: run only the SMTP relay that apps submit mail to (``postwarden
serve`` starts it too). Stops on SIGTERM/SIGINT: no new connections, sessions get a
few seconds to finish, what is queued is committed, exit 0."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from postwarden import collector, stopping
from postwarden.cli.django_setup import start_up
from postwarden.core.i18n import gettext

#: seconds sessions may take to finish after SIGTERM
GRACE = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden relay", description=gettext("Run only the SMTP relay that apps submit mail to.")
    )
    parser.add_argument("--listen", help=gettext("host:port to listen on (default POSTWARDEN_SMTP_LISTEN)"))
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start_up("relay")
    # aiosmtpd logs every command at INFO, recipients included, and a deprecation warning
    # at each AUTH; the relay logs one line per message itself
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from postwarden.configstore.runtime import current_settings
    from postwarden.relay.gateway import Gateway
    from postwarden.relay.server import Relay, config_from_settings
    from postwarden.relay.tls import TlsConfigError

    settings = current_settings()
    overrides = {}
    if args.listen:
        host, _, port = args.listen.rpartition(":")
        overrides = {"host": host.strip("[]") or "127.0.0.1", "port": int(port)}
    try:
        config = config_from_settings(settings, **overrides)
    except TlsConfigError as exc:
        print(f"postwarden relay: {exc}", file=sys.stderr)
        return 2
    relay = Relay(config, Gateway(settings, current_settings))
    collector.settle()
    try:
        return asyncio.run(stopping.until_stopped(_serve(relay)))
    except OSError as exc:
        cannot = gettext("cannot listen on {address}: {error}").format(
            address=f"{config.host}:{config.port}", error=exc
        )
        print(f"postwarden relay: {cannot}", file=sys.stderr)
        return 1


async def _serve(relay: object) -> int:
    from postwarden.relay.server import Relay

    assert isinstance(relay, Relay)
    stop = asyncio.Event()
    stopping.on_stop(stop.set)
    await relay.start()
    addresses = ", ".join(f"{h}:{p}" for h, p in relay.addresses)
    print("postwarden relay: " + gettext("listening on {addresses}").format(addresses=addresses), flush=True)
    await stop.wait()
    await relay.stop(GRACE)
    committer = relay.gateway.committer
    logging.getLogger("postwarden.relay").info(
        "relay stopped",
        extra={
            "connections": relay.connections,
            "committed": committer.committed,
            "batches": len(committer.batches),
            "write_seconds": round(committer.write_seconds, 3),
        },
    )
    return 0

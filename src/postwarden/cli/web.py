"""``postwarden web``: the console and API on waitress."""

from __future__ import annotations

import argparse
import logging

from postwarden import collector
from postwarden.cli.django_setup import start_up
from postwarden.core.i18n import gettext

log = logging.getLogger("postwarden.web")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden web", description=gettext("Serve the web console and the API.")
    )
    parser.add_argument("--host", help=gettext("listen address (default POSTWARDEN_HOST, 127.0.0.1)"))
    parser.add_argument("--port", type=int, help=gettext("port (default POSTWARDEN_PORT, 8025)"))
    parser.add_argument("--threads", type=int, default=16, help=gettext("worker threads (default 16)"))
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start_up("web")
    from django.conf import settings
    from waitress import serve

    from postwarden.proxies import ProxyHeaders
    from postwarden.wsgi import application

    service = settings.SERVICE_SETTINGS.service
    host, port = args.host or service.host, args.port or service.port
    collector.settle()
    log.info("web console listening", extra={"url": f"http://{host}:{port}/"})
    # waitress: pure Python, threaded, no C build; enough for a console and an API that
    # writes rows (the worker does the heavy lifting in its own process). Request threads
    # do not compete for the database: the outbox's group commit (outbox/groupcommit.py)
    # writes every waiting request in one transaction, so a thread per concurrent client
    # (16 by default) makes bigger groups; 4 or 8 threads measured no faster (issue #7).
    # It reads a whole request before a thread runs it (a slow upload holds a connection,
    # not a thread) and drops header names with underscores (X_Forwarded_For is not the
    # proxy's X-Forwarded-For): tests/security/test_web_server.py and test_trusted_proxies.py.
    # granian was faster and failed both (docs/performance.md).
    serve(
        ProxyHeaders(application, trusted=service.trusted_proxies, https=service.https),
        host=host,
        port=port,
        threads=args.threads,
        ident="postwarden",
        connection_limit=1000,
        channel_timeout=120,
        # proxy headers are ProxyHeaders' (postwarden/proxies.py): waitress trusts one
        # address or every peer, the operator names networks
        clear_untrusted_proxy_headers=False,
    )
    return 0

"""``postwarden serve``: everything for one machine.

Migrates, creates the first admin, then supervises the web console, a worker, the SMTP
relay, the monitor (periodic jobs: alerts, canaries) and, when POSTWARDEN_BOUNCE_LISTEN or
BOUNCE_IMAP_HOST is set, the bounce listener and mailbox poller as separate processes: each
gets its own interpreter (the worker's sending loop never competes with the console for the
GIL) and a crash of one is restarted without taking the others down. SIGTERM/SIGINT stop
them gracefully: the worker finishes in-flight mail and releases the rest.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from postwarden.cli.django_setup import STARTED_UP, start_up
from postwarden.core.i18n import gettext

#: seconds a child may take to stop before it is killed
STOP_GRACE = 30.0
#: seconds after which the supervisor names a child that is still stopping
SLOW_STOP = 5.0
#: a child that dies this many times in a row within FAST_EXIT seconds is not restarted
MAX_FAST_EXITS = 5
FAST_EXIT = 5.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    fast_exits: int = 0
    restart_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        env = {**os.environ, "POSTWARDEN_PROCESS": self.name, STARTED_UP: "1", **self.env}
        self.process = subprocess.Popen([sys.executable, "-m", "postwarden", *self.argv], env=env)  # noqa: S603
        self.started = time.monotonic()


def children(with_relay: bool, with_bounces: bool = False) -> list[Child]:
    found = [Child("web", ["web"]), Child("worker", ["worker"])]
    if with_relay:
        found.append(Child("relay", ["relay"]))
    found.append(Child("monitor", ["monitor"]))
    if with_bounces:
        found.append(Child("bounces", ["bounces"]))
    return found


def bounce_intake() -> str | None:
    """Where bounces come in, as the settings ask (the listener's ``host:port``, the bounce
    mailbox), or None when neither is set."""
    from postwarden.configstore.runtime import current_settings

    bounces = current_settings().bounces
    ways = [f"{bounces.listen[0]}:{bounces.listen[1]}"] if bounces.listen else []
    if bounces.imap:
        ways.append(f"mailbox {bounces.imap_user} at {bounces.imap_host}")
    return ", ".join(ways) or None


def prepare() -> str:
    """Make or upgrade the install (django_setup.start_up); returns the banner describing
    where mail goes."""
    start_up("serve")
    from django.conf import settings

    from postwarden.configstore.runtime import current_settings

    service = settings.SERVICE_SETTINGS.service
    sending = current_settings()
    where = sending.sending.provider.value
    if where == "capture":
        note = gettext("nothing configured yet: mails are kept and shown in the console's Captured mail")
        where += f" ({note})"
    return "\n".join(
        [
            gettext("Postwarden is running."),
            *_rows(
                (gettext("console and API:"), f"http://{service.host}:{service.port}/"),
                (gettext("SMTP relay:"), f"{service.smtp_listen_host}:{service.smtp_listen_port}"),
                (gettext("mail goes to:"), where),
                (gettext("data:"), str(service.data_dir)),
            ),
        ]
    )


def _rows(*rows: tuple[str, str]) -> list[str]:
    """The banner's label and value pairs, the values in one column."""
    return [f"  {label:<{_LABEL_WIDTH}} {value}" for label, value in rows]


#: the banner's label column ("console and API:" and a space)
_LABEL_WIDTH = 16


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden serve", description=gettext("Everything for one machine.")
    )
    parser.add_argument("--no-relay", action="store_true", help=gettext("do not listen for SMTP submissions"))
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    print(prepare(), flush=True)
    bounces = bounce_intake()
    if bounces:
        print(*_rows((gettext("bounces:"), bounces)), flush=True)
    return supervise(children(with_relay=not args.no_relay, with_bounces=bounces is not None))


def supervise(kids: list[Child]) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for kid in kids:
        kid.start()
    status = 0
    # Ctrl-C reaches the whole process group: children may die of the same signal before
    # the event is seen, so reaping happens only while not stopping (no false "restarting").
    while not stop.wait(0.2):
        status = _reap(kids)
        if status:
            break
    _stop(kids)
    return status


def _reap(kids: list[Child]) -> int:
    now = time.monotonic()
    for kid in kids:
        assert kid.process is not None
        code = kid.process.poll()
        if code is None:
            if kid.restart_at == 0.0 and now - kid.started > FAST_EXIT:
                kid.fast_exits = 0
            continue
        if kid.restart_at == 0.0:
            kid.fast_exits = kid.fast_exits + 1 if now - kid.started < FAST_EXIT else 1
            if kid.fast_exits >= MAX_FAST_EXITS:
                _say(
                    gettext("{name} keeps exiting (status {code}); stopping").format(name=kid.name, code=code)
                )
                return code or 1
            delay = min(30.0, 2.0**kid.fast_exits)
            restarting = gettext("{name} exited with status {code}; restarting in {delay}s")
            _say(restarting.format(name=kid.name, code=code, delay=f"{delay:.0f}"))
            kid.restart_at = now + delay
        elif now >= kid.restart_at:
            kid.restart_at = 0.0
            kid.start()
    return 0


def _stop(kids: list[Child]) -> None:
    """SIGTERM to every child, then wait for each; one still running after STOP_GRACE is killed.

    Whoever holds up the stop is named (a worker finishing its sends, a hung monitor job), so
    a supervisor's log says which child a slow shutdown or a kill belongs to.
    """
    for kid in kids:
        if kid.process and kid.process.poll() is None:
            kid.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for kid in kids:
        if kid.process is None:
            continue
        try:
            kid.process.wait(timeout=max(0.1, min(SLOW_STOP, deadline - time.monotonic())))
            continue
        except subprocess.TimeoutExpired:
            _say(gettext("waiting for {name} (pid {pid}) to stop").format(name=kid.name, pid=kid.process.pid))
        try:
            kid.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killing = gettext("{name} (pid {pid}) did not stop within {grace}s; killing it")
            _say(killing.format(name=kid.name, pid=kid.process.pid, grace=f"{STOP_GRACE:.0f}"))
            kid.process.kill()
            kid.process.wait()


def _say(line: str) -> None:
    print(f"postwarden: {line}", file=sys.stderr, flush=True)

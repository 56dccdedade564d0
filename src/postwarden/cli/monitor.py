"""``postwarden monitor``: run the periodic jobs (alerts, canaries, the scheduled doctor),
each under a lease in the database, so that with several nodes exactly one runs each job
(``postwarden serve`` starts it too). Stops on SIGTERM/SIGINT: running jobs are asked to
stop and get a few seconds to finish."""

from __future__ import annotations

import argparse
import importlib
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from postwarden.cli.django_setup import CommandError, start_up
from postwarden.core.i18n import Number, Text, format_datetime, gettext, ngettext
from postwarden.monitor.jobs import PeriodicJob

#: where the jobs come from: "module:function", the function returning a list of
#: postwarden.monitor.jobs.PeriodicJob. A package adds its jobs by adding its function here (the
#: cli may import every layer; the monitor package imports none above it).
JOB_SOURCES: tuple[str, ...] = (
    "postwarden.alerts.jobs:monitor_jobs",
    "postwarden.canaries.jobs:monitor_jobs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden monitor",
        description=gettext(
            "Run the periodic jobs (alerts, canaries, the scheduled doctor), each under a lease in the "
            "database, so that with several nodes exactly one runs each job."
        ),
    )
    parser.add_argument(
        "--source",
        action="append",
        metavar="MODULE:FUNCTION",
        help=gettext(
            "take the jobs from this function instead of the built-in ones (repeatable; extensions, tests)"
        ),
    )
    parser.add_argument(
        "--only", action="append", metavar="JOB", help=gettext("run only this job (repeatable)")
    )
    parser.add_argument(
        "--list", action="store_true", help=gettext("list the jobs and their schedule, then exit")
    )
    return parser


def load_jobs(sources: Sequence[str]) -> list[PeriodicJob]:
    """The jobs the sources give. Raises CommandError for a source that is not there."""
    found: list[PeriodicJob] = []
    for source in sources:
        module_name, _, function_name = source.partition(":")
        try:
            function: Callable[[], Sequence[object]] = getattr(
                importlib.import_module(module_name), function_name
            )
        except (ImportError, AttributeError, ValueError):
            raise CommandError(
                Text("no job source {source} (expected module:function)", source=repr(source))
            ) from None
        for job in function():
            if not isinstance(job, PeriodicJob):
                raise CommandError(
                    Text("job source {source} gave something that is not a PeriodicJob", source=repr(source))
                )
            found.append(job)
    return found


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    start_up("monitor")
    from postwarden.monitor.runner import Monitor

    jobs = load_jobs(args.source or JOB_SOURCES)
    if args.only:
        unknown = sorted(set(args.only) - {job.name for job in jobs})
        if unknown:
            raise CommandError(
                Text(
                    "no such job: {unknown} (jobs: {jobs})",
                    unknown=", ".join(unknown),
                    jobs=", ".join(j.name for j in jobs),
                )
            )
        jobs = [job for job in jobs if job.name in args.only]
    if args.list:
        return _list(jobs)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = ", ".join(job.name for job in jobs) or gettext("(none)")
    running = ngettext("{n} job: {names}", "{n} jobs: {names}", len(jobs))
    print("postwarden monitor: " + running.format(n=len(jobs), names=names), flush=True)
    return Monitor(jobs).run(stop)


def _list(jobs: Sequence[PeriodicJob]) -> int:
    from postwarden.monitor.models import MonitorJob

    rows = {row.name: row for row in MonitorJob.objects.filter(name__in=[job.name for job in jobs])}
    for job in jobs:
        row = rows.get(job.name)
        started = None if row is None else row.last_started_at
        if row is None or started is None:
            last = gettext("never run")
        elif row.runs == 0:  # run_at_start=False: the schedule counts from when it was first seen
            last = gettext("first run after {when} UTC").format(when=format_datetime(started + job.every()))
        else:
            last = gettext("last {when} UTC").format(when=format_datetime(started))
        outcome = f", {row.last_outcome}" if row is not None and row.last_outcome else ""
        error = f": {row.last_error}" if row is not None and row.last_error else ""
        every = gettext("every {seconds} s").format(seconds=format(Number(job.every().total_seconds()), "g"))
        print(f"{job.name}  {every}  {last}{outcome}{error}")
    return 0

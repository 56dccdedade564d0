"""Periodic jobs, run by ``postwarden monitor`` (cli/monitor.py) under a lease in the
database: in a multi-node install exactly one node runs each job, and the schedule
survives restarts.

A package offers jobs by a function returning :class:`~postwarden.monitor.jobs.PeriodicJob`
objects; ``postwarden.cli.monitor.JOB_SOURCES`` lists those functions (the cli may
import every layer, this package imports none above it)."""

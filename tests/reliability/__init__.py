"""Fault suites (issue #8): real worker processes, real SMTP servers and a real PostgreSQL,
each fault bounded in time. ``make test`` runs the bounded forms; ``make soak`` the full
lengths (``-m soak``; sizes from ``PW_SOAK_*`` variables, see :mod:`tests.reliability.sizes`).

Not repeated here because it exists: the SMTP relay SIGKILLed right after its 250 still
delivers that message after a restart (tests/relay/test_crash.py), and SIGTERM drains a
worker (tests/outbox/test_faults.py)."""

"""Canary mailboxes: past the first hop.

A canary is a mailbox the operator owns at a provider their users use. A run sends a mail
to it through the normal outbox path (same transport, DKIM and From as real mail, marked
``source="canary"`` so it never counts as user mail), then watches the mailbox over IMAP
until it arrives or a deadline passes, and records where it landed and what the receiving
server concluded (SPF, DKIM, DMARC). The console, the API, ``/metrics`` and the doctor
read the runs (docs/canaries.md).
"""

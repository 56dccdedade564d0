"""The console's names for the state words machines keep in English (a recipient's state, a
check's status, a canary run's, an alert's, a bounce's outcome): the stored word and the API
keep the English code; the page shows it in the reader's language (the badge's class keeps
the code)."""

from __future__ import annotations

from functools import partial
from typing import Final, cast

from django.utils.functional import Promise, lazy
from django.utils.translation import pgettext_lazy

from postwarden.core import i18n
from postwarden.outbox import said


def _said(code: str) -> str:
    return i18n.localize(said.state(code))


def _state(code: str) -> Promise:
    """A recipient's state as the outbox names it in its sentences (outbox/said.py), said
    in the page's language when the page is drawn: one word for a state wherever it shows."""
    # django-stubs types a lazy call as its result type; at run time it is a Promise
    return cast(Promise, lazy(partial(_said, code), str)())


#: code -> its name on a page ("status" context: these are short badge words)
WORDS: Final[dict[str, Promise]] = {
    # a recipient's state (outbox.models.State) in the outbox's words; what the console
    # shows for capture
    **{code: _state(code) for code in said.STATES},
    "captured": pgettext_lazy("status", "captured"),
    # timeline event kinds
    "attempt": pgettext_lazy("status", "attempt"),
    "enqueued": pgettext_lazy("status", "enqueued"),
    "opened": pgettext_lazy("status", "opened"),
    "clicked": pgettext_lazy("status", "clicked"),
    "released": pgettext_lazy("status", "released"),
    "unsubscribed": pgettext_lazy("status", "unsubscribed"),
    "policy": pgettext_lazy("status", "policy"),
    "requeued": pgettext_lazy("status", "re-queued"),
    "rejected": pgettext_lazy("status", "rejected"),
    "delayed": pgettext_lazy("status", "delayed"),
    "links": pgettext_lazy("status", "links"),
    "template": pgettext_lazy("status", "template"),
    # an attempt's outcome
    "temporary": pgettext_lazy("status", "temporary"),
    "permanent": pgettext_lazy("status", "permanent"),
    # a doctor check, a stage, a finding's severity
    "pass": pgettext_lazy("status", "pass"),
    "warn": pgettext_lazy("status", "warn"),
    "fail": pgettext_lazy("status", "fail"),
    "skip": pgettext_lazy("status", "skip"),
    "error": pgettext_lazy("status", "error"),
    "warning": pgettext_lazy("status", "warning"),
    "info": pgettext_lazy("status", "info"),
    "ok": pgettext_lazy("status", "ok"),
    "running": pgettext_lazy("status", "running"),
    "pending": pgettext_lazy("status", "pending"),
    # a canary run (canaries.models.RunState) and its status
    "waiting": pgettext_lazy("status", "waiting"),
    "arrived": pgettext_lazy("status", "arrived"),
    "inbox": pgettext_lazy("status", "inbox"),
    "junk": pgettext_lazy("status", "junk"),
    "other": pgettext_lazy("status", "other"),
    "missing": pgettext_lazy("status", "missing"),
    "unreachable": pgettext_lazy("status", "unreachable"),
    "slow": pgettext_lazy("status", "slow"),
    "never_run": pgettext_lazy("status", "never run"),
    "auth_failed": pgettext_lazy("status", "authentication failed"),
    "disabled": pgettext_lazy("status", "disabled"),
    "unreported": pgettext_lazy("status", "unreported"),
    "latency": pgettext_lazy("status", "latency"),
    # alerts
    "firing": pgettext_lazy("status", "firing"),
    "resolved": pgettext_lazy("status", "resolved"),
    "test": pgettext_lazy("status", "test"),
    "no_destination": pgettext_lazy("status", "no destination"),
    # a bounce's outcome (bounces.models.BounceOutcome)
    "applied": pgettext_lazy("status", "applied"),
    "unknown_message": pgettext_lazy("status", "unknown message"),
    "no_token": pgettext_lazy("status", "no return path"),
    "unreadable": pgettext_lazy("status", "unreadable"),
    "unknown": pgettext_lazy("status", "unknown"),
    "ignored": pgettext_lazy("status", "ignored"),
    "duplicate": pgettext_lazy("status", "duplicate"),
    "excess": pgettext_lazy("status", "over the bound"),
    # a bounce's kind
    "bounce": pgettext_lazy("status", "bounce"),
    "delay": pgettext_lazy("status", "delay"),
    "complaint": pgettext_lazy("status", "complaint"),
    # suppression reasons
    "hard_bounce": pgettext_lazy("status", "hard bounce"),
    "unsubscribe": pgettext_lazy("status", "unsubscribe"),
    "manual": pgettext_lazy("status", "manual"),
    "failures": pgettext_lazy("status", "repeated failures"),
    "retry": pgettext_lazy("status", "retry"),
    # log levels (the log lines' own field stays as written)
    "debug": pgettext_lazy("status", "debug"),
    "critical": pgettext_lazy("status", "critical"),
}


def word(code: object) -> object:
    """The page's name for ``code``; a code without one is shown as it is."""
    return WORDS.get(str(code), code)


#: where a setting's value came from (core.config.model.Origin)
ORIGINS: Final[dict[str, Promise]] = {
    "flag": pgettext_lazy("origin", "command-line flag"),
    "env": pgettext_lazy("origin", "environment"),
    "dotenv": pgettext_lazy("origin", ".env file"),
    "stored": pgettext_lazy("origin", "saved in the console"),
    "import": pgettext_lazy("origin", "imported"),
    "default": pgettext_lazy("origin", "default"),
}

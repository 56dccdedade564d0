"""What a page reads back from the sentences the worker writes by batched SQL in English:
a lost attempt's note and the reason of a recipient taken back from a silent worker."""

from __future__ import annotations

from postwarden.core import i18n
from postwarden.core.i18n import Text
from postwarden.outbox import said
from postwarden.outbox.worker.leases import DIED, LOST, back_in_queue


def test_a_lost_attempts_note_and_the_reason_of_a_taken_back_recipient_are_sentences_again() -> None:
    for why in (LOST, DIED):
        note = said.attempt_reply(str(why))  # as the batched UPDATE stored it
        assert isinstance(note, Text)
        assert note == why
        reason = said.reason(str(back_in_queue(why)))
        assert isinstance(reason, Text)
        with i18n.override(i18n.PSEUDO):
            assert reason.localized() == f"⟦back in the queue: {i18n.PSEUDO_OPEN}{why}{i18n.PSEUDO_CLOSE}⟧"


def test_a_servers_reply_stays_the_servers() -> None:
    reply = "250 2.0.0 Ok: queued as 4BxYz"
    assert said.attempt_reply(reply) == reply
    assert not isinstance(said.attempt_reply(reply), Text)

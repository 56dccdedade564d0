"""The transcript: the conversation as evidence, never a secret, never the content."""

from __future__ import annotations

from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.transcript import Transcript


def test_it_masks_an_auth_initial_response_whoever_writes_it() -> None:
    transcript = Transcript()

    transcript.client("AUTH PLAIN AG9wcwBaZWJyYS1RdWFydHotOTMxNy1sYW50ZXJu")
    transcript.client("AUTH LOGIN")
    transcript.client("b3Bz", secret=True)

    assert transcript.as_dicts() == [
        {"dir": "client", "line": "AUTH PLAIN ••••"},
        {"dir": "client", "line": "AUTH LOGIN"},
        {"dir": "client", "line": "••••"},
    ]


def test_it_shows_server_replies_line_by_line_and_masks_challenges() -> None:
    transcript = Transcript()

    transcript.server(Reply.from_lines(250, ["250-mx.test", "250 AUTH PLAIN"]))
    transcript.server(Reply.from_lines(334, ["334 VXNlcm5hbWU6"]), secret=True)

    assert str(transcript) == "S: 250-mx.test\nS: 250 AUTH PLAIN\nS: 334 ••••"


def test_it_summarises_the_content_instead_of_copying_it() -> None:
    transcript = Transcript()

    transcript.client_data(2048)

    assert [line.line for line in transcript.lines] == ["[2048 bytes of message content]", "."]


def test_it_stops_growing_at_its_bound() -> None:
    transcript = Transcript(max_lines=3)

    for i in range(5):
        transcript.client(f"NOOP {i}")

    assert (len(transcript), transcript.dropped) == (3, 2)
    assert transcript.lines[-1].at_ms >= transcript.lines[0].at_ms

"""The SMTP conversation as it happened, for the doctor and ``send-test``, never a secret.

The session writes to a :class:`Transcript` only when one is attached, so the worker's
hot path pays nothing for it. The AUTH exchange is redacted in both directions (the
base64 lines the client sends, the ``AUTH PLAIN <b64>`` initial response and the
server's 334 challenges) by the session, which knows which lines are secret; as a second
line of defence :meth:`Transcript.client` also masks anything after ``AUTH <mechanism>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Literal

from postwarden.core.secrets import MASK
from postwarden.core.smtp.reply import Reply

Direction = Literal["client", "server"]

#: a transcript is evidence for people, not a log: bounded so a long session cannot grow it
DEFAULT_MAX_LINES: Final = 2000


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line: ``dir`` is ``"client"`` or ``"server"`` (the doctor's JSON names),
    ``at_ms`` the milliseconds since the transcript began."""

    dir: Direction
    line: str
    at_ms: float = 0.0

    def as_dict(self) -> dict[str, str]:
        """``{"dir": "client", "line": "EHLO host"}`` as in docs/spec/doctor.md."""
        return {"dir": self.dir, "line": self.line}


def _mask_auth(line: str) -> str:
    words = line.split(" ", 2)
    if len(words) >= 3 and words[0].upper() == "AUTH":
        return f"{words[0]} {words[1]} {MASK}"
    return line


class Transcript:
    """An append-only list of :class:`TranscriptLine`, with message content summarised."""

    def __init__(self, *, max_lines: int = DEFAULT_MAX_LINES) -> None:
        self.lines: list[TranscriptLine] = []
        self.max_lines = max_lines
        self.dropped = 0
        self._start = time.perf_counter()

    def _add(self, direction: Direction, line: str) -> None:
        if len(self.lines) >= self.max_lines:
            self.dropped += 1
            return
        at = round((time.perf_counter() - self._start) * 1000, 3)
        self.lines.append(TranscriptLine(direction, line, at))

    def client(self, line: str, *, secret: bool = False) -> None:
        """A command line the client sent (without CRLF). ``secret`` lines are masked."""
        self._add("client", MASK if secret else _mask_auth(line))

    def client_data(self, size: int) -> None:
        """The message content: its size, not its text (it may hold personal data)."""
        self._add("client", f"[{size} bytes of message content]")
        self._add("client", ".")

    def server(self, reply: Reply, *, secret: bool = False) -> None:
        """A reply, line by line as received; ``secret`` keeps only the code (334 challenges)."""
        if secret:
            self._add("server", f"{reply.code} {MASK}")
            return
        for line in reply.lines or (str(reply.code),):
            self._add("server", line)

    def note(self, direction: Direction, line: str) -> None:
        """An event that is not a line on the wire, e.g. ``"[TLS established: TLSv1.3]"``."""
        self._add(direction, line)

    def as_dicts(self) -> list[dict[str, str]]:
        return [line.as_dict() for line in self.lines]

    def __str__(self) -> str:
        prefix = {"client": "C: ", "server": "S: "}
        return "\n".join(prefix[line.dir] + line.line for line in self.lines)

    def __len__(self) -> int:
        return len(self.lines)

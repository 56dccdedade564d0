"""Everything the relay takes from aiosmtpd's private side, in one place, and why.

aiosmtpd's ``SMTP`` session offers public hooks for the handler (``handle_DATA`` …), not for
what the relay needs from the session itself: its own command loop (strict framing, RFC 2920
synchronization, no per-line logging: relay/protocol.py), a count of open transactions
(relay/committer.py's ``Activity``) and one idle timer per session instead of a new one per
command (docs/performance.md). :class:`SessionHooks` overrides the three private methods
that give those, and nothing else does; :data:`USED` lists the private methods and
attributes the relay's session reads, each with why.

Private names change without notice, so aiosmtpd is pinned (``==`` :data:`PINNED` in
pyproject.toml) and tests/relay/test_aiosmtpd_private.py fails, naming the name, when the
installed aiosmtpd is another version, when a name below is gone or has changed its
signature, or when the relay overrides a private name not listed here. Raise the pin only
after reading the new version's ``smtp.py`` for these names.
"""

from __future__ import annotations

from typing import Final

from aiosmtpd.smtp import SMTP

#: the aiosmtpd version these names were read in
PINNED: Final = "1.4.6"

#: aiosmtpd's private methods :class:`SessionHooks` overrides, with their signatures there
OVERRIDDEN: Final[dict[str, str]] = {
    "_handle_client": "(self) -> None",
    "_set_post_data_state": "(self)",
    "_reset_timeout": "(self, duration: Optional[float] = None) -> None",
}

#: aiosmtpd's private methods the relay's session calls, with their signatures, and why
CALLED: Final[dict[str, tuple[str, str]]] = {
    "_timeout_cb": ("(self)", "closes an idle session with aiosmtpd's own 421 (the idle timer)"),
    "_strip_command_keyword": (
        "(self, keyword: str, arg: str) -> Optional[str]",
        "reads FROM:/TO: as aiosmtpd does, for paths the relay's fast parser leaves to it",
    ),
    "_getaddr": (
        "(self, arg: str) -> Tuple[Optional[str], Optional[str]]",
        "aiosmtpd's address parser, for odd paths (quoted local parts)",
    ),
}

#: aiosmtpd's private attributes the relay's session reads or sets, and why
USED: Final[dict[str, str]] = {
    "_smtp_methods": "the command table (verb to smtp_* method) the relay's loop dispatches on",
    "_reader": "the session's stream: the loop reads commands and DATA from it",
    "_writer": "the session's stream: the 421 on a pre-AUTH timeout is written to it",
    "_original_transport": "tells the first connection_made from the one after STARTTLS",
    "_auth_required": "set per client address (trusted networks need no AUTH)",
    "_auth_require_tls": "set per client address (loopback and implicit TLS may AUTH in clear)",
    "_tls_handshake_okay": "a failed STARTTLS handshake leaves only QUIT allowed",
    "_tls_protocol": "whether STARTTLS happened",
    "_timeout_handle": "the idle timer the relay keeps one of per session",
    "_timeout_duration": "the idle timeout aiosmtpd was given",
}


class SessionHooks(SMTP):
    """aiosmtpd's session with its three private hooks turned into ours: :meth:`serve`
    (the command loop), :meth:`transaction_ended` and one idle timer per session."""

    #: when (loop time) the session has been idle too long
    _idle_deadline: float = 0.0

    async def _handle_client(self) -> None:
        # aiosmtpd's command loop, replaced whole
        await self.serve()

    async def serve(self) -> None:
        """Talk to the client until the session ends."""
        raise NotImplementedError

    def _set_post_data_state(self) -> None:
        # aiosmtpd's one place where a transaction ends: RSET, HELO/EHLO, end of DATA
        self.transaction_ended()
        super()._set_post_data_state()  # type: ignore[no-untyped-call]

    def transaction_ended(self) -> None:
        """Called whenever aiosmtpd ends a mail transaction."""

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Push the idle deadline back. aiosmtpd cancels its timer and schedules a new one
        at every command (four times a message, and the event loop's heap keeps the
        cancelled ones for a while); here one timer per session stays and moves only when
        it fires early. ``duration`` (the PROXY-protocol wait) keeps aiosmtpd's way."""
        if duration is not None:
            super()._reset_timeout(duration)
            return
        self._idle_deadline = self.loop.time() + self._timeout_duration
        handle = self._timeout_handle
        if handle is None or handle.cancelled() or handle.when() > self._idle_deadline:
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)

    def _idle_check(self) -> None:
        if self.loop.time() < self._idle_deadline:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)
        else:
            self._timeout_cb()  # type: ignore[no-untyped-call]

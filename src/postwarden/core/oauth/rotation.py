"""Where a refresh token the identity platform rotated goes: the token sources hand the
new one here, and the application (configstore, when Django is set up) saves it sealed,
so a restart does not start from one the platform has retired.

One sink per process, registered at start-up: the token sources are built deep in the
transport, the doctor and the console's tests, below the layer that may write settings.
``issued_at`` (wall-clock seconds) lets the sink keep the newest of several workers'
rotations rather than the last to arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from postwarden.core.secrets import Secret

log = logging.getLogger("postwarden.oauth")

#: (the new refresh token, when it was issued) -> whether it was saved
Sink = Callable[[Secret, float], bool]
_sink: Sink | None = None


def set_sink(sink: Sink | None) -> None:
    global _sink
    _sink = sink


def rotated(token: Secret, issued_at: float | None = None) -> None:
    """Hand a rotated refresh token to the sink. Never raises: the access token that came
    with it is good either way, and the old refresh token stays in use in memory."""
    sink = _sink
    if sink is None:
        return
    try:
        sink(token, time.time() if issued_at is None else issued_at)
    except Exception as exc:
        log.warning("the rotated OAuth2 refresh token could not be saved: %s", type(exc).__name__)

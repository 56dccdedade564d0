"""The garbage collector's settings for Postwarden's long-running processes that turn over
many short-lived objects: the web process (a 500-message batch request), the worker
(thousands of attempts a second) and the relay (thousands of SMTP sessions' messages).

With CPython's default thresholds the collector runs every 700 allocations and its older
generations walk Django's start-up objects (modules, classes, functions, URL patterns,
translation catalogs), which never become garbage, again and again. Those are frozen out
of its sight once start-up is over, and it runs less often; garbage is still collected.
What this bought in each process is in docs/performance.md.
"""

from __future__ import annotations

import gc
from typing import Final

#: allocations between young collections, then how many of each generation before the next
THRESHOLDS: Final = (20_000, 20, 20)


def settle() -> None:
    """Call once, after the process has imported what it runs and before its loop."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)

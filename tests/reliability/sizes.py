"""How long the fault runs are: a bounded form for ``make test`` and the full form of
issue #8 for ``make soak`` (tests marked ``soak``). Each full figure can be raised further
from the environment, e.g. ``PW_SOAK_MESSAGES=20000 make soak``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Size:
    name: str
    #: messages in a run
    messages: int
    #: SIGKILLs during a run
    kills: int
    #: seconds a server is away (stopped, then answering 421)
    outage: float


BOUNDED = Size("bounded", messages=1000, kills=3, outage=3.0)
FULL = Size(
    "soak",
    messages=int(_env("PW_SOAK_MESSAGES", 5000)),
    kills=int(_env("PW_SOAK_KILLS", 5)),
    outage=_env("PW_SOAK_OUTAGE", 30.0),
)

#: parametrize a fault test with both forms; the full one only runs under -m soak
BOTH = [pytest.param(BOUNDED, id="bounded"), pytest.param(FULL, id="soak", marks=pytest.mark.soak)]

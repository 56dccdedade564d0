"""A small stacked bar chart as SVG geometry, drawn on the server: no charting library,
no script, nothing the CSP has to allow. The template turns the bars into ``<rect>``s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from postwarden.console import formats
from postwarden.console.words import word

WIDTH: Final = 600
HEIGHT: Final = 160
#: room for the axis labels under the bars
BOTTOM: Final = 18
LEFT: Final = 30


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    peak: int
    baseline: float

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"


def stacked(
    slots: Sequence[datetime],
    counts: Mapping[datetime, Mapping[str, int]],
    series: Sequence[str],
    *,
    label_shape: str = "clock",
    label_every: int = 6,
    unit: str = "",
) -> Chart:
    """One column per slot (oldest first), ``series`` stacked bottom-up in the given order;
    every ``label_every``-th slot labelled in ``label_shape`` (:func:`formats.moment`: the
    page's digits and calendar); ``unit`` follows each value in the bars' titles (" s")."""
    totals = [sum(counts.get(slot, {}).get(s, 0) for s in series) for slot in slots]
    peak = max(totals, default=0)
    plot_h = HEIGHT - BOTTOM - 4
    step = (WIDTH - LEFT) / max(1, len(slots))
    bars: list[Bar] = []
    labels = [Label(LEFT - 4, 10, formats.number(peak)), Label(LEFT - 4, HEIGHT - BOTTOM, formats.number(0))]
    for i, slot in enumerate(slots):
        x = LEFT + i * step + 1
        bottom = float(HEIGHT - BOTTOM)
        for name in series:
            n = counts.get(slot, {}).get(name, 0)
            if not n or not peak:
                continue
            h = max(1.0, n / peak * plot_h)
            bottom -= h
            bars.append(
                Bar(
                    round(x, 1),
                    round(bottom, 1),
                    round(step - 2, 1),
                    round(h, 1),
                    name,
                    f"{formats.moment(slot, label_shape)} {word(name)}: {formats.number(n)}{unit}",
                )
            )
        if i % label_every == 0:
            labels.append(Label(round(x, 1), HEIGHT - 4, formats.moment(slot, label_shape)))
    return Chart(WIDTH, HEIGHT, tuple(bars), tuple(labels), peak, float(HEIGHT - BOTTOM))

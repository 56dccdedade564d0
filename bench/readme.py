"""Put the latest ``make bench`` table (bench/results.md) into README.md, between the
``bench:begin`` and ``bench:end`` markers of its Benchmarks section.

    python -m bench.readme [--results bench/results.md] [--readme README.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin (python -m bench.readme) -->", "<!-- bench:end -->"


def updated(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``. Raises
    ValueError when the markers are missing or out of order."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} … {END} block")
    return readme[: start + len(BEGIN)] + "\n" + table.strip() + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    args.readme.write_text(updated(args.readme.read_text(), args.results.read_text()))
    print(f"{args.readme}: the Benchmarks table is now {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU µs per composed message (no I/O), against the stdlib for comparison.

    .venv/bin/python bench/compose.py [--n 20000] [--repeats 5]

Messages are about 2 KB, one recipient each, every recipient distinct (so the address
cache only helps the From address, as in a real batch). Loops are bounded by count and
by a 20-second deadline per run. Prints the median of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP

from postwarden.core.message import Draft, compose

DEADLINE_S = 20.0
LINE = "Your weekly report is ready: 42 new items, 3 alerts, nothing urgent. Regards.\n"
TEXT = LINE * 26  # ~2 KB
HTML = "<html><body>" + "".join(f"<p>{LINE.strip()}</p>\n" for _ in range(20)) + "</body></html>\n"
DATE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def drafts(n: int, html: bool) -> list[Draft]:
    return [
        Draft(
            from_address="Reports <noreply@example.com>",
            to=[f"user{i}@example.net"],
            subject="Weekly report",
            text=TEXT,
            html=HTML if html else None,
            date=DATE,
            headers={"List-Unsubscribe": f"<https://app.example.com/unsubscribe/{i}>"},
        )
        for i in range(n)
    ]


def stdlib(draft: Draft) -> bytes:
    msg = EmailMessage()
    msg["From"] = draft.from_address
    msg["To"] = ", ".join(draft.to)
    msg["Subject"] = draft.subject
    for name, value in draft.headers.items():
        msg[name] = value
    msg.set_content(draft.text or "")
    if draft.html:
        msg.add_alternative(draft.html, subtype="html")
    return msg.as_bytes(policy=SMTP)


def run(fn: Callable[[Draft], object], items: list[Draft]) -> tuple[float, int]:
    deadline = time.monotonic() + DEADLINE_S
    # CPU time of this process: other work on the machine inflates wall time, not this
    start = time.process_time()
    done = 0
    for draft in items:
        fn(draft)
        done += 1
        if done % 1000 == 0 and time.monotonic() > deadline:
            break
    return (time.process_time() - start) / done * 1e6, done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for label, html in (("text only", False), ("text + html", True)):
        items = drafts(args.n, html)
        size = compose(items[0]).size
        ours = [run(compose, items)[0] for _ in range(args.repeats)]
        theirs = [run(stdlib, items[: max(1, args.n // 10)])[0] for _ in range(args.repeats)]
        print(
            f"{label:12s} {size:5d} B  compose {statistics.median(ours):7.1f} µs/msg   "
            f"stdlib EmailMessage {statistics.median(theirs):7.1f} µs/msg   "
            f"(median of {args.repeats}, n={args.n})"
        )


if __name__ == "__main__":
    main()

"""The capture transport: mails kept on disk for the console's inbox, bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from postwarden.transports import capture
from postwarden.transports.base import Outcome, TransportDelivery
from postwarden.transports.capture import CaptureTransport, count_captured, list_captured, read_captured


def delivery(n: int, subject: str = "Hello") -> TransportDelivery:
    raw = (
        f"From: ops@example.com\r\nTo: a{n}@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{n}@example.com>\r\n\r\nbody\r\n"
    ).encode()
    return TransportDelivery(
        message_pk=n,
        public_id=f"m_{n:04d}",
        message_id=f"<{n}@example.com>",
        envelope_from="ops@example.com",
        recipients=(f"a{n}@example.com",),
        raw=raw,
    )


def send(transport: CaptureTransport, *deliveries: TransportDelivery) -> list[list[tuple[str, Outcome, str]]]:
    async def go() -> list[list[tuple[str, Outcome, str]]]:
        return [[(r.address, r.outcome, r.queue_id) for r in await transport.send(d)] for d in deliveries]

    return asyncio.run(go())


def test_it_keeps_each_delivery_with_a_sidecar_and_lists_it_newest_first(tmp_path: Path) -> None:
    transport = CaptureTransport(tmp_path)
    results = send(transport, delivery(1), delivery(2, subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?="))
    assert [r[0][1] for r in results] == [Outcome.SENT, Outcome.SENT]
    items = list_captured(directory=tmp_path)
    assert [i.public_id for i in items] == ["m_0002", "m_0001"]
    assert items[0].subject == "Grüße"
    assert (items[1].message_id, items[1].envelope_from, items[1].recipients) == (
        "<1@example.com>",
        "ops@example.com",
        ("a1@example.com",),
    )
    assert results[0][0][2] == items[1].id
    found = read_captured(items[1].id, directory=tmp_path)
    assert found is not None
    assert found[1] == delivery(1).raw
    sidecar = json.loads((tmp_path / f"{items[1].id}.json").read_text())
    assert set(sidecar) == {
        "public_id",
        "message_id",
        "envelope_from",
        "recipients",
        "subject",
        "size",
        "captured_at",
    }
    assert [i.public_id for i in list_captured(limit=1, offset=1, directory=tmp_path)] == ["m_0001"]


def test_it_keeps_only_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "PRUNE_SLACK", 5)
    transport = CaptureTransport(tmp_path, keep=10)
    send(transport, *(delivery(n) for n in range(23)))
    kept = list_captured(limit=100, directory=tmp_path)
    assert 10 <= count_captured(directory=tmp_path) < 15
    assert kept[0].public_id == "m_0022"
    assert capture.prune(tmp_path, keep=10) == len(kept) - 10
    assert [i.public_id for i in list_captured(limit=100, directory=tmp_path)] == [
        f"m_{n:04d}" for n in range(22, 12, -1)
    ]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".eml"] * 10 + [".json"] * 10


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "20260101T000000000000-m_1-abc", "x" * 300])
def test_it_never_turns_a_foreign_id_into_a_path(tmp_path: Path, bad: str) -> None:
    assert read_captured(bad, directory=tmp_path) is None


def test_it_lists_nothing_before_the_first_mail(tmp_path: Path) -> None:
    assert list_captured(directory=tmp_path / "absent") == []
    assert count_captured(directory=tmp_path / "absent") == 0

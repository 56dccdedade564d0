"""The ``capture`` transport: mail is kept on disk and shown in the console's inbox
instead of being sent (EMAIL_PROVIDER=capture, the default when nothing is configured).

Each delivery becomes ``<data dir>/captured/<id>.eml`` plus ``<id>.json`` (public id,
Message-ID, envelope, subject, captured_at). The sidecar is written last, by rename, so a
listed mail is always complete. Only the newest :data:`KEEP` are kept.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from postwarden.core.config.model import Settings
from postwarden.transports.base import Outcome, RecipientResult, TransportDelivery, one_at_a_time

#: how many captured mails stay on disk
KEEP: Final = 1000
#: prune once this many more have accumulated (listing the directory on every write
#: would cost more than the write)
PRUNE_SLACK: Final = 50
_ID_RE: Final = re.compile(r"^[0-9]{8}T[0-9]{12}-[A-Za-z0-9_]{1,40}-[0-9a-f]{6}$")


@dataclass(frozen=True, slots=True)
class Captured:
    id: str
    public_id: str
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    subject: str
    size: int
    captured_at: datetime


def default_directory() -> Path:
    from django.conf import settings  # the data directory is an infrastructure setting

    return Path(settings.DATA_DIR) / "captured"


class CaptureTransport:
    """Keeps every delivery; every recipient "accepted"."""

    name = "capture"
    max_recipients = 1000
    #: deliveries written at once (each on a thread of the loop's default executor)
    concurrency = 4
    batches = False
    needs_parts = False
    takes_return_paths = False
    server: tuple[str, int] | None = None

    def __init__(self, directory: Path, keep: int = KEEP) -> None:
        self.directory = directory
        self.keep = keep
        self._written = 0

    async def send(self, delivery: TransportDelivery) -> Sequence[RecipientResult]:
        started = asyncio.get_running_loop().time()
        captured_id = await asyncio.to_thread(self._write, delivery)
        duration = int((asyncio.get_running_loop().time() - started) * 1000)
        return [
            RecipientResult(
                address,
                Outcome.SENT,
                stage="data",
                detail=f"captured as {captured_id}",
                queue_id=captured_id,
                duration_ms=duration,
            )
            for address in delivery.recipients
        ]

    async def send_many(self, deliveries: Sequence[TransportDelivery]) -> list[Sequence[RecipientResult]]:
        return await one_at_a_time(self, deliveries)

    async def close(self) -> None:
        return None

    def _write(self, delivery: TransportDelivery) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        safe = re.sub(r"[^A-Za-z0-9_]", "_", delivery.public_id)[:40] or "m"
        captured_id = f"{now:%Y%m%dT%H%M%S%f}-{safe}-{secrets.token_hex(3)}"
        (self.directory / f"{captured_id}.eml").write_bytes(delivery.raw)
        meta = {
            "public_id": delivery.public_id,
            "message_id": delivery.message_id,
            "envelope_from": delivery.envelope_from,
            "recipients": list(delivery.recipients),
            "subject": _subject(delivery.raw),
            "size": len(delivery.raw),
            "captured_at": now.isoformat(),
        }
        partial = self.directory / f".{captured_id}.json.tmp"
        partial.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.directory / f"{captured_id}.json")
        self._written += 1
        if self._written % PRUNE_SLACK == 0:
            prune(self.directory, self.keep)
        return captured_id


def build(settings: Settings) -> CaptureTransport:
    return CaptureTransport(settings.service.data_dir / "captured")


def prune(directory: Path, keep: int = KEEP) -> int:
    """Delete all but the newest ``keep`` captured mails; returns how many went."""
    ids = _ids(directory)
    doomed = ids[keep:]
    for captured_id in doomed:
        for suffix in (".json", ".eml"):
            (directory / f"{captured_id}{suffix}").unlink(missing_ok=True)
    return len(doomed)


def list_captured(limit: int = 50, offset: int = 0, *, directory: Path | None = None) -> list[Captured]:
    """The captured mails, newest first."""
    folder = directory or default_directory()
    found = []
    for captured_id in _ids(folder)[offset : offset + limit]:
        item = _meta(folder, captured_id)
        if item is not None:
            found.append(item)
    return found


def count_captured(*, directory: Path | None = None) -> int:
    return len(_ids(directory or default_directory()))


def read_captured(captured_id: str, *, directory: Path | None = None) -> tuple[Captured, bytes] | None:
    """The mail's description and its raw bytes, or None when there is no such mail
    (an id that is not one of ours is never turned into a path)."""
    if not _ID_RE.match(captured_id):
        return None
    folder = directory or default_directory()
    item = _meta(folder, captured_id)
    if item is None:
        return None
    try:
        return item, (folder / f"{captured_id}.eml").read_bytes()
    except OSError:
        return None


def as_dict(item: Captured) -> dict[str, object]:
    data = asdict(item)
    data["captured_at"] = item.captured_at.isoformat()
    data["recipients"] = list(item.recipients)
    return data


def _ids(directory: Path) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    ids = [name[:-5] for name in names if name.endswith(".json") and _ID_RE.match(name[:-5])]
    return sorted(ids, reverse=True)


def _meta(directory: Path, captured_id: str) -> Captured | None:
    try:
        data = json.loads((directory / f"{captured_id}.json").read_text(encoding="utf-8"))
        return Captured(
            id=captured_id,
            public_id=str(data["public_id"]),
            message_id=str(data["message_id"]),
            envelope_from=str(data["envelope_from"]),
            recipients=tuple(data["recipients"]),
            subject=str(data.get("subject", "")),
            size=int(data.get("size", 0)),
            captured_at=datetime.fromisoformat(data["captured_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # pruned between listing and reading, or not ours


def _subject(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0]
    parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(head)
    return str(parsed.get("Subject", ""))

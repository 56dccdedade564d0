"""Every sample of the real bounce corpus (../shared/bounce-corpus, read in place; see its
NOTICE) is read as what its origin says it is: ``arf-*`` samples are complaint reports,
``rfc3834-*`` auto-replies, and every ``lhost-*``, ``rhost-*``, ``rfc3464-*`` and ``flufl-*``
sample a mail system's report of a failure or a delay.

Where the parser cannot do better, the test says so: :data:`UNRECOGNIZED` are bounces in
forms no detector here knows (they are kept for the operator, never applied, never lost), and
:data:`NOT_ARF` are complaints forwarded as plain mail rather than as RFC 5965 reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postwarden.bounces.parse import BounceKind, read
from tests.bounces.helpers import CORPUS

BOUNCES = {BounceKind.HARD_BOUNCE, BounceKind.SOFT_BOUNCE, BounceKind.DELAYED}
#: samples whose report says the mail is still being tried (Action: delayed)
DELAYED = {
    "089-lhost-outlook-06.eml",
    "090-rhost-outlook-06.eml",
    "092-lhost-messagingserver-07.eml",
    "093-lhost-opensmtpd-06.eml",
    "094-lhost-sendmail-29.eml",
    "096-rfc3464-07.eml",
    "097-rhost-gsuite-06.eml",
    "120-flufl-dsn-05.eml",
}
#: non-standard reports without a delivery-status part that neither flufl.bounce nor the
#: status codes in their text identify: kept as "unreadable" for the operator
UNRECOGNIZED = {
    "015-lhost-notes-02.eml",
    "017-lhost-sendmail-14.eml",
    "022-rhost-google-02.eml",
    "027-lhost-dragonfly-04.eml",
    "029-lhost-opensmtpd-03.eml",
    "046-lhost-kddi-01.eml",
    "061-lhost-opensmtpd-04.eml",
    "070-lhost-messagingserver-03.eml",
    "073-lhost-ezweb-01.eml",
    "077-lhost-notes-01.eml",
    "095-lhost-zoho-04.eml",
}
NOT_ARF = {"087-arf-22.eml", "088-arf-23.eml"}
#: an Amazon SES complaint notification mailed as JSON: flufl.bounce reads it as a bounce
SES_JSON = {"079-lhost-amazonses-11.eml"}


def samples() -> list[Path]:
    found = sorted(CORPUS.glob("*.eml"))
    if not found:
        pytest.skip(f"the bounce corpus is not at {CORPUS} (it sits beside the clone)")
    return found


def expected(name: str) -> set[BounceKind]:
    if name in DELAYED:
        return {BounceKind.DELAYED}
    if name in UNRECOGNIZED or name in NOT_ARF:
        return {BounceKind.UNKNOWN}
    if "-arf-" in name:
        return {BounceKind.COMPLAINT}
    if "-rfc3834-" in name:
        return {BounceKind.AUTO_REPLY}
    return {BounceKind.HARD_BOUNCE, BounceKind.SOFT_BOUNCE}


def test_the_corpus_is_there_and_whole() -> None:
    assert len(samples()) == 122


@pytest.mark.parametrize("path", samples(), ids=lambda p: p.name)
def test_each_sample_is_read_as_what_it_is(path: Path) -> None:
    report = read(path.read_bytes())
    assert report.kind in expected(path.name), (report.kind, report.detector, report.note)
    if report.kind in BOUNCES:
        # a failure names its status or the remote words, so the timeline can quote them
        assert report.recipients
        assert any(s.status or s.diagnostic for s in report.recipients) or report.detector == "flufl"


def test_standard_reports_carry_the_remote_words_verbatim() -> None:
    report = read((CORPUS / "024-lhost-amavis-01.eml").read_bytes())
    [status] = report.recipients
    assert (status.address, status.action, status.status) == ("neko@example.co.jp", "failed", "5.1.1")
    assert status.diagnostic.startswith("smtp; 550 5.1.1 <neko@example.co.jp>: Recipient address rejected")
    complaint = read((CORPUS / "084-arf-14.eml").read_bytes())
    assert (complaint.kind, complaint.feedback_type) == (BounceKind.COMPLAINT, "abuse")


def test_a_bounce_that_says_auto_replied_is_still_a_bounce() -> None:
    # Exim and Postfix mark their bounces Auto-Submitted: auto-replied (RFC 3834 3.1.7)
    raw = (CORPUS / "002-lhost-exim-02.eml").read_bytes()
    assert b"Auto-Submitted: auto-replied" in raw
    assert read(raw).kind is BounceKind.HARD_BOUNCE


def test_nothing_in_the_corpus_reads_as_its_opposite() -> None:
    for path in samples():
        kind = read(path.read_bytes()).kind
        if "-rfc3834-" in path.name:
            assert kind not in BOUNCES | {BounceKind.COMPLAINT}, path.name
        elif path.name not in SES_JSON:
            assert kind is not BounceKind.AUTO_REPLY, path.name

"""Unknown input degrades by stage and code class, and nothing ever raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postwarden.core.codes import Code, Severity
from postwarden.core.replies.classify import classify
from postwarden.core.replies.explain import explain_text, render
from postwarden.core.replies.parse import parse_reply
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

#: words no rule knows
NONSENSE = "Frobnication of the quux has been declined"


@pytest.mark.parametrize(
    ("stage", "code", "expected", "severity"),
    [
        (SmtpStage.GREETING, 554, Code.NETWORK_SERVICE_REFUSED, Severity.ERROR),
        (SmtpStage.GREETING, 450, Code.NETWORK_SERVICE_REFUSED, Severity.ERROR),
        (SmtpStage.EHLO, 550, Code.NETWORK_SERVICE_REFUSED, Severity.ERROR),
        (SmtpStage.EHLO, 451, Code.NETWORK_SERVICE_REFUSED, Severity.ERROR),  # blocks every message
        (SmtpStage.STARTTLS, 550, Code.TLS_STARTTLS_UNAVAILABLE, Severity.ERROR),
        (SmtpStage.STARTTLS, 451, Code.TLS_STARTTLS_UNAVAILABLE, Severity.ERROR),  # blocks every message
        (SmtpStage.AUTH, 550, Code.AUTH_FAILED, Severity.ERROR),
        (SmtpStage.AUTH, 451, Code.AUTH_FAILED, Severity.ERROR),  # blocks every message
        (SmtpStage.MAIL, 550, Code.ENVELOPE_SENDER_REJECTED, Severity.ERROR),
        (SmtpStage.MAIL, 451, Code.ENVELOPE_SENDER_REJECTED, Severity.WARNING),
        (SmtpStage.RCPT, 550, Code.ENVELOPE_RECIPIENT_REJECTED, Severity.ERROR),
        (SmtpStage.RCPT, 451, Code.ENVELOPE_RECIPIENT_REJECTED, Severity.WARNING),
        (SmtpStage.DATA, 554, Code.ENVELOPE_CONTENT_REJECTED, Severity.ERROR),
        (SmtpStage.DATA, 451, Code.ENVELOPE_CONTENT_REJECTED, Severity.WARNING),
    ],
)
def test_it_falls_back_by_stage_and_class(
    stage: SmtpStage, code: int, expected: Code, severity: Severity
) -> None:
    got = classify(stage=stage, reply=Reply(code=code, text=NONSENSE))
    assert (got.code, got.severity, got.permanent) == (expected, severity, code >= 500)
    assert got.rule_id.startswith(("fallback.", "code."))
    assert NONSENSE in got.explanation or got.rule_id.startswith("code.")


def test_it_quotes_the_server_in_a_fallback() -> None:
    got = classify(stage=SmtpStage.MAIL, reply=Reply(code=553, text=NONSENSE))
    assert got.explanation == (
        f"The server's words match no known cause; they are quoted as evidence: 553 {NONSENSE}"
    )


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (SmtpStage.RESOLVE, Code.NETWORK_DNS_UNRESOLVABLE),
        (SmtpStage.CONNECT, Code.NETWORK_CONNECTION_REFUSED),
        (SmtpStage.GREETING, Code.NETWORK_NO_GREETING),
        (SmtpStage.EHLO, Code.NETWORK_SERVICE_REFUSED),
        (SmtpStage.TLS, Code.TLS_HANDSHAKE_FAILED),
        (SmtpStage.STARTTLS, Code.TLS_HANDSHAKE_FAILED),
        (SmtpStage.AUTH, Code.AUTH_FAILED),
        (SmtpStage.MAIL, Code.ENVELOPE_SENDER_REJECTED),
        (SmtpStage.RCPT, Code.ENVELOPE_RECIPIENT_REJECTED),
        (SmtpStage.DATA, Code.ENVELOPE_CONTENT_REJECTED),
    ],
)
def test_it_falls_back_by_stage_for_failures_without_a_reply(stage: SmtpStage, expected: Code) -> None:
    got = classify(stage=stage, reply=None, detail=NONSENSE)
    assert (got.code, got.permanent) == (expected, False)
    assert got.evidence == NONSENSE


def test_it_admits_it_does_not_know_garbage() -> None:
    got = explain_text("%%% ¯\\_(ツ)_/¯ %%%")
    assert (got.code, got.rule_id, got.severity, got.permanent) == (None, "unknown", Severity.WARNING, False)
    assert got.title == "Postwarden does not know this error"
    assert got.steps[0].startswith("Run `postwarden doctor`")


def test_it_admits_it_does_not_know_an_unknown_reply_without_a_stage() -> None:
    got = explain_text(f"550 {NONSENSE}")
    assert (got.code, got.severity, got.permanent) == (None, Severity.ERROR, True)
    assert got.title == "Postwarden does not know this reply"


def test_it_classifies_nothing_at_all() -> None:
    got = classify(stage=None, reply=None)
    assert (got.code, got.evidence) == (None, "")


_CODES = st.integers(min_value=0, max_value=999)
_ENHANCED = st.one_of(st.none(), st.from_regex(r"\A[245]\.\d{1,3}\.\d{1,3}\Z"), st.text(max_size=12))
_STAGES = st.one_of(st.none(), st.sampled_from(list(SmtpStage)), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(
    stage=_STAGES,
    code=_CODES,
    enhanced=_ENHANCED,
    text=st.text(max_size=300),
    port=st.one_of(st.none(), st.integers(min_value=-1, max_value=70000)),
    host=st.one_of(st.none(), st.text(max_size=40)),
)
def test_it_never_raises_on_any_reply(
    stage: SmtpStage | str | None,
    code: int,
    enhanced: str | None,
    text: str,
    port: int | None,
    host: str | None,
) -> None:
    got = classify(
        stage=stage, reply=Reply(code=code, enhanced=enhanced, text=text), detail=text, port=port, host=host
    )
    assert got.rule_id


@settings(max_examples=200, deadline=None)
@given(stage=_STAGES, detail=st.text(max_size=400))
def test_it_never_raises_on_any_failure_text(stage: SmtpStage | str | None, detail: str) -> None:
    got = classify(stage=stage, reply=None, detail=detail)
    assert got.rule_id


_REPLYISH = st.lists(
    st.one_of(
        st.from_regex(r"\A[2-5][0-5]\d[ -]([245]\.\d\.\d{1,3} )?[\w .:<>@\[\]-]{0,40}\Z"),
        st.sampled_from(["\n", " - ", ": ", "(535, b'5.7.8 x')", "535-", "#5.7.1)", "'", "]", "\\n"]),
        st.text(max_size=20),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=_REPLYISH, stage=_STAGES)
def test_it_never_raises_explaining_reply_like_text(text: str, stage: SmtpStage | str | None) -> None:
    parse_reply(text)
    got = explain_text(text, stage=stage if isinstance(stage, str) else None)
    assert render(got, color=True)
    assert render(got, color=False)

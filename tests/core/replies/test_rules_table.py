"""The tables are well formed, and the ranking of rule.py holds."""

from __future__ import annotations

import string

import pytest

from postwarden.core.codes import Code
from postwarden.core.i18n import Text
from postwarden.core.replies.failures import FAILURES, STAGE_FALLBACKS
from postwarden.core.replies.oauth import TOKEN_FAILURES, TOKEN_REFUSALS
from postwarden.core.replies.playbook import PLAYBOOK
from postwarden.core.replies.providers import HOSTS
from postwarden.core.replies.rule import Facts, Rule, rule
from postwarden.core.replies.rules import RULES
from postwarden.core.smtp.stages import SmtpStage

EVERY = (*RULES, *TOKEN_FAILURES, *TOKEN_REFUSALS, *FAILURES, *STAGE_FALLBACKS, *HOSTS)
PLACEHOLDERS = {"host", "port", "code", "evidence", "region", "identity", "identities", "resource"}


def test_it_gives_every_rule_its_own_id() -> None:
    failures = (*TOKEN_FAILURES, *TOKEN_REFUSALS, *FAILURES, *STAGE_FALLBACKS)
    ids = [r.id for r in (*RULES, *HOSTS)] + [r.id for r in failures]
    assert len(set(r.id for r in (*RULES, *HOSTS))) == len(RULES) + len(HOSTS)
    assert len(set(r.id for r in failures)) == len(failures)
    assert all(i and i == i.strip() for i in ids)


@pytest.mark.parametrize("row", EVERY, ids=[r.id for r in EVERY])
def test_it_gives_every_rule_a_criterion_and_fillable_texts(row: Rule) -> None:
    assert row.stages or row.reply or row.enhanced or row.text or row.host or row.ports
    groups = set(row.text.groupindex) if row.text else set()
    for template in filter(None, (row.title, row.explanation, row.advice, *row.steps)):
        # what a person reads is translatable: the catalog keys on the template's message id
        assert isinstance(template, Text), (row.id, template)
        names = {name for _, name, _, _ in string.Formatter().parse(template.msgid) if name}
        assert names <= PLACEHOLDERS | groups | set(template.params), (row.id, names)


@pytest.mark.parametrize("code", list(PLAYBOOK), ids=[c.value for c in PLAYBOOK])
def test_it_gives_every_generic_text_as_translatable_text(code: Code) -> None:
    generic = PLAYBOOK[code]
    assert all(isinstance(t, Text) for t in (generic.explanation, *generic.steps)), code


@pytest.mark.parametrize("row", EVERY, ids=[r.id for r in EVERY])
def test_it_explains_every_code_it_yields(row: Rule) -> None:
    if row.code is None:
        return
    assert row.code in PLAYBOOK or (row.explanation and row.steps), row.id


@pytest.mark.parametrize(
    "code",
    [c for c in Code if c.stage in {"network", "tls", "auth", "envelope"}],
)
def test_it_can_reach_every_code_of_the_network_tls_auth_and_envelope_stages(code: Code) -> None:
    assert any(r.code == code for r in EVERY)


def facts(
    *,
    stage: SmtpStage | None = SmtpStage.RCPT,
    code: int | None = 550,
    enhanced: str | None = "5.7.1",
    text: str = "Relay access denied",
) -> Facts:
    code_class = code // 100 if code else (int(enhanced[0]) if enhanced else None)
    return Facts(stage, code, code_class, enhanced, text)


def test_it_ranks_text_enhanced_and_code_above_a_code_class() -> None:
    full = rule("full", Code.ENVELOPE_RELAY_DENIED, reply="550", enhanced="5.7.1", text="relay")
    coarse = rule("coarse", Code.ENVELOPE_RECIPIENT_REJECTED, on=SmtpStage.RCPT, reply="5xx")
    full_match, coarse_match = full.match(facts()), coarse.match(facts())
    assert full_match is not None
    assert coarse_match is not None
    assert full_match[0] == (2, 0, 3, 2, 0)
    assert coarse_match[0] == (0, 0, 0, 1, 2)
    assert full_match[0] > coarse_match[0]


@pytest.mark.parametrize(
    ("item", "enhanced", "score"),
    [
        ("5.7.1", "5.7.1", 3),
        ("X.7.1", "4.7.1", 3),
        ("X.7.1", "4.7.10", None),
        ("5.7.", "5.7.139", 2),
        ("X.7.", "4.7.0", 2),
        ("5.", "5.1.1", 1),
        ("5.7.1", "4.7.1", None),
        (None, None, 0),
        (None, "5.7.1", None),
        ("5.7.1", None, None),
    ],
)
def test_it_scores_enhanced_codes(item: str | None, enhanced: str | None, score: int | None) -> None:
    got = rule("r", None, enhanced=(item,)).match(facts(enhanced=enhanced))
    assert (got[0][2] if got else None) == score


def test_it_scores_stages_by_how_narrow_the_set_is() -> None:
    one = rule("one", None, on=SmtpStage.RCPT)
    some = rule("some", None, on={SmtpStage.RCPT, SmtpStage.MAIL})
    unknown_ok = rule("unknown", None, on={SmtpStage.RCPT, None})
    assert [r.match(facts())[0][4] for r in (one, some, unknown_ok)] == [2, 1, 2]  # type: ignore[index]
    assert one.match(facts(stage=None)) is None
    assert unknown_ok.match(facts(stage=None)) == ((0, 0, 0, 0, 0), {})


def test_it_lets_a_class_match_by_the_enhanced_code_when_the_reply_code_is_unknown() -> None:
    got = rule("r", None, reply="5xx").match(facts(code=None, enhanced="5.7.9"))
    assert got is not None
    assert got[0][3] == 1
    assert rule("r", None, reply="535").match(facts(code=None, enhanced="5.7.9")) is None

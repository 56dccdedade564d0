"""The suppression list helpers the policy, the webhooks, the API and the console call."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.outbox import suppressions
from postwarden.outbox.models import Suppression

pytestmark = pytest.mark.django_db


def test_it_finds_active_suppressions_case_insensitively_in_one_query(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    suppressions.add("Ann@Example.NET", "complaint", now=now)
    suppressions.add_bounce("bob@example.org", now=now - timedelta(days=31))  # expired yesterday
    with django_assert_num_queries(1):
        found = suppressions.is_suppressed(["ANN@example.net", "bob@example.org", "cy@example.org"], now=now)
    assert list(found) == ["ann@example.net"]
    assert found["ann@example.net"].reason == "complaint"


def test_it_never_downgrades_a_complaint_to_a_bounce() -> None:
    suppressions.add("ann@example.net", "complaint", source="ses event 1")
    row = suppressions.add_bounce("ann@example.net", source="ses event 2")
    assert (row.reason, row.source, row.expires_at) == ("complaint", "ses event 1", None)


def test_it_refreshes_a_bounce_and_upgrades_it_to_a_complaint() -> None:
    now = timezone.now()
    first = suppressions.add_bounce("ann@example.net", now=now - timedelta(days=10))
    again = suppressions.add_bounce("ann@example.net", now=now)
    assert again.pk == first.pk
    assert again.expires_at == now + suppressions.BOUNCE_TTL
    worse = suppressions.add("ann@example.net", "complaint", now=now)
    assert (worse.reason, worse.expires_at) == ("complaint", None)
    assert Suppression.objects.count() == 1


def test_it_clears_only_bounces_after_a_successful_send() -> None:
    suppressions.add_bounce("ann@example.net")
    suppressions.add("bob@example.org", "unsubscribe")
    assert suppressions.clear_bounce("ANN@example.net") is True
    assert suppressions.clear_bounce("bob@example.org") is False
    assert list(Suppression.objects.values_list("address", flat=True)) == ["bob@example.org"]


def test_it_prunes_expired_entries() -> None:
    now = timezone.now()
    suppressions.add_bounce("old@example.org", now=now - timedelta(days=40))
    suppressions.add_bounce("new@example.org", now=now)
    suppressions.add("forever@example.org", "manual")
    assert suppressions.prune_expired(now=now) == 1
    assert sorted(Suppression.objects.values_list("address", flat=True)) == [
        "forever@example.org",
        "new@example.org",
    ]


def test_it_refuses_an_unknown_reason_or_a_non_address() -> None:
    with pytest.raises(ValueError, match="unknown suppression reason 'bored'"):
        suppressions.add("ann@example.net", "bored")
    with pytest.raises(ValueError, match="not an email address"):
        suppressions.add("   ", "manual")


def test_it_exports_csv_with_formulas_defused() -> None:
    suppressions.add("ann@example.net", "manual", detail='=HYPERLINK("http://x")', source="api key crm")
    rows = list(csv.reader(io.StringIO(suppressions.export_csv(suppressions.search()))))
    assert rows[0] == list(suppressions.CSV_COLUMNS)
    assert rows[1][:4] == ["ann@example.net", "manual", '\'=HYPERLINK("http://x")', "api key crm"]
    assert rows[1][5] == ""


def test_a_detail_with_line_breaks_stays_one_row() -> None:
    """A provider's detail may hold CR, LF or both: each stays inside its row (RFC 4180)."""
    detail = "550 5.1.1 user unknown\rsecond line\nthird\r\nfourth"
    suppressions.add("ann@example.net", "manual", detail=detail)
    text = suppressions.export_csv(suppressions.search())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2
    assert rows[1][2] == detail
    assert text.endswith("\r\n")


def test_clearing_a_bounce_clears_only_that_address() -> None:
    suppressions.add_bounce("ann@example.net")
    suppressions.add_bounce("bob@example.org")
    assert suppressions.clear_bounce("ANN@example.net") is True
    assert suppressions.clear_bounce("ann@example.net") is False
    assert list(Suppression.objects.values_list("address", flat=True)) == ["bob@example.org"]


def test_remove_says_whether_there_was_one() -> None:
    suppressions.add("ann@example.net", "manual")
    assert (suppressions.remove("ann@example.net"), suppressions.remove("ann@example.net")) == (True, False)


@pytest.mark.parametrize("address", ["", "   ", "nobody", "example.net"])
def test_it_refuses_to_suppress_what_is_not_an_address(address: str) -> None:
    with pytest.raises(ValueError, match="address"):
        suppressions.add(address, "manual")
    assert not Suppression.objects.exists()


def test_pruning_takes_the_moment_it_is_given() -> None:
    now = timezone.now()
    suppressions.add_bounce("ann@example.net", now=now)  # expires in 30 days
    assert suppressions.prune_expired(now=now + timedelta(days=29)) == 0
    assert suppressions.prune_expired(now=now + timedelta(days=31)) == 1


def test_search_filters_by_reason_and_leaves_out_expired_ones_unless_asked() -> None:
    now = timezone.now()
    suppressions.add("ann@example.net", "complaint", now=now)
    suppressions.add("bob@example.org", "manual", now=now)
    suppressions.add_bounce("cy@example.org", now=now - timedelta(days=31))  # expired
    assert [r.address for r in suppressions.search(reason="manual", now=now)] == ["bob@example.org"]
    assert {r.address for r in suppressions.search(now=now)} == {"ann@example.net", "bob@example.org"}
    everything = suppressions.search(include_expired=True, now=now)
    assert {r.address for r in everything} == {"ann@example.net", "bob@example.org", "cy@example.org"}


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_the_csv_defuses_every_formula_lead(lead: str) -> None:
    row = suppressions.add("ann@example.net", "manual", detail=f"{lead}HYPERLINK(x)", source=f"{lead}cmd")
    text = suppressions.export_csv([row])
    # each value keeps its ' in front, whatever quoting the csv module gives it
    assert f"'{lead}HYPERLINK(x)" in text
    assert f"'{lead}cmd" in text
    assert row.created_at.isoformat() in text


def test_it_stores_no_words_it_was_not_given_and_refreshes_the_same_reason() -> None:
    row = suppressions.add("ann@example.net", "complaint")
    bounce = suppressions.add_bounce("bob@example.org")
    assert (row.detail, row.source, bounce.detail, bounce.source) == ("", "", "", "")
    again = suppressions.add("ann@example.net", "complaint", detail="second report", source="ses event 2")
    assert (again.pk, again.detail, again.source) == (row.pk, "second report", "ses event 2")

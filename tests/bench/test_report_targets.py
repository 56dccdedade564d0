"""The bench judges its figures by issue #18's targets (which raised issue #7's): a figure
that met #7's bound but not #18's is a miss in the table and in results.json."""

from __future__ import annotations

from bench import report

#: issue #18's bounds, and a value on each side of each bound
CASES = (
    ("delivery_vs_ceiling", 0.6, 0.59),
    ("delivery_vs_django", 8.0, 7.9),
    ("api_batch_msgs_s", 10_000, 9_999),
    ("relay_msgs_s", 3_000, 2_999),
    ("relay_vs_postfix", 3.0, 2.99),
    ("growth_delivery", 0.8, 0.79),
    ("growth_api_batch", 0.8, 0.79),
    ("growth_relay", 0.8, 0.79),
)


def test_a_rate_passes_at_issue_18s_bound_and_fails_just_below_it() -> None:
    for key, bound, below in CASES:
        assert report.verdicts({key: bound})[key]["pass"] is True, key
        assert report.verdicts({key: below})[key]["pass"] is False, key


def test_issue_7s_passing_figures_now_miss() -> None:
    """0.45 of the ceiling, 7 x Django and a 40 ms p99 passed issue #7's targets."""
    issue_7_passes = {"delivery_vs_ceiling": 0.45, "delivery_vs_django": 7, "api_single_p99_ms": 40}
    verdicts = report.verdicts(issue_7_passes)
    assert {key: verdicts[key]["pass"] for key in issue_7_passes} == dict.fromkeys(issue_7_passes, False)


def test_times_must_stay_under_their_bound() -> None:
    for key, bound in (("api_single_p99_ms", 25), ("deliveries_page_ms_2m", 300), ("doctor_page_ms_2m", 300)):
        assert report.verdicts({key: bound - 0.1})[key]["pass"] is True, key
        assert report.verdicts({key: bound})[key]["pass"] is False, key
        assert report.verdicts({key: bound})[key]["target"] == f"< {bound}"


def test_a_missing_figure_is_a_miss() -> None:
    verdicts = report.verdicts({})
    assert sorted(verdicts) == sorted(report.TARGETS)
    assert not any(v["pass"] for v in verdicts.values())

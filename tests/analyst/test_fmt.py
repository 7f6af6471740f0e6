"""The one formatting module: a figure and its restatement agree, small amounts keep enough
digits to differ, plurals and durations read as English, confidence follows data volume."""

from __future__ import annotations

import pytest

from tokenomist.analyst import fmt


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1234.5, "$1,234.50"),
        (72.955, "$72.95"),  # as Python rounds the stored value, like every other printer
        (0.0489, "$0.049"),
        (0.0012, "$0.0012"),
        (0.0000004, "$0.000000"),
        (0.0, "$0.00"),
        (-3.2, "-$3.20"),
        (None, "n/a"),
    ],
)
def test_money_shows_small_amounts_with_enough_digits(value, shown):
    assert fmt.money(value) == shown


def test_two_amounts_that_differ_never_read_the_same():
    # The "would cost $0.00 instead of $0.05".
    assert fmt.money_pair(0.0012, 0.048) == ("$0.0012", "$0.0480")
    assert fmt.money_pair(234.141, 234.144) == ("$234.141", "$234.144")
    assert fmt.money_pair(5.0, 5.0) == ("$5.00", "$5.00")
    assert fmt.money_pair(None, 1.0) == ("n/a", "$1.00")


def test_money_value_is_what_money_shows():
    for v in (72.955, 0.125, 2.675, 1e-3, 12345.6789):
        assert fmt.money(fmt.money_value(v)) == fmt.money(v)


@pytest.mark.parametrize(
    ("n", "word", "text"),
    [(1, "strategy", "1 strategy"), (2, "strategy", "2 strategies"),
     (1234, "request", "1,234 requests"), (1, "day", "1 day"), (0, "model", "0 models"),
     (2, "match", "2 matches")],
)  # fmt: skip
def test_plurals(n, word, text):
    assert fmt.plural(n, word) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 seconds"), (59.7, "1 minute"), (60, "1 minute"), (58 * 60, "58 minutes"),
     (3600, "1 hour"),
     (0.042 * 86400, "1 hour"), (5.5 * 3600, "5.5 hours"), (86400, "1 day"),
     (29.96 * 86400, "30 days"), (1110 * 86400, "1,110 days")],
)  # fmt: skip
def test_durations_use_one_unit_and_agree_with_each_other(seconds, text):
    # The "all data (1 minutes)" beside "0.042 days" and "(1.0 hours)".
    assert fmt.duration(seconds) == text
    assert fmt.days(seconds / 86400) == text


def test_percentages_keep_a_non_zero_share_visible():
    assert fmt.pct(25.21) == "25.2%" and fmt.pct(0.04) == "0.04%" and fmt.pct(0) == "0.0%"


@pytest.mark.parametrize(
    ("requests", "days", "ceiling"),
    [(19_366, 58 / 1440, "low"), (50, 30, "low"), (5000, 3, "medium"), (500, 30, "medium"),
     (27_000, 30, "high")],
)  # fmt: skip
def test_confidence_follows_data_volume_and_span(requests, days, ceiling):
    level, why = fmt.confidence_ceiling(requests, days)
    assert level == ceiling
    assert (why is None) == (ceiling == "high")
    assert fmt.cap_confidence("high", level) == level
    assert fmt.cap_confidence("low", level) == "low"

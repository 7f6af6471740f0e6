"""The rules parser on its own: names matched against an org's values (with the match said),
periods resolved against an anchor, and what a name that matches nothing reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tokenomist.analyst import periods
from tokenomist.analyst.intent import Intent, Vocabulary, parse
from tokenomist.analyst.matching import base_model, norm
from tokenomist.usage.pricing import Pricer

COVERAGE = {
    "models": [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4o-2024-08-06"),
               ("anthropic", "claude-3-5-sonnet"), ("anthropic", "claude-3-haiku"),
               ("google", "gemini-1.5-flash")],
    "projects": ["legal", "conv", "Search Platform"],
    "features": ["chat", "support-triage"],
    "end_users": ["acme-corp", "user-042"],
}  # fmt: skip
VOCAB = Vocabulary.of(COVERAGE, Pricer())
ANCHOR = datetime(2026, 11, 20, 12, tzinfo=UTC)  # a Friday


def test_names_ignore_case_and_punctuation_and_dates():
    assert norm("Search Platform") == norm("search-platform") == "searchplatform"
    assert base_model("gpt-4o-2024-08-06") == "gpt-4o"
    assert base_model("claude-3-5-haiku-latest") == "claude-3-5-haiku"


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        ("spend on Claude", {"model": ("claude-3-5-sonnet", "claude-3-haiku")}),
        ("what did GPT-4o cost", {"model": ("gpt-4o", "gpt-4o-2024-08-06")}),
        ("what did gpt 4o mini cost", {"model": "gpt-4o-mini"}),
        ("the mini models", {"model": "gpt-4o-mini"}),
        ("Gemini spend", {"model": "gemini-1.5-flash"}),
        ("spend with Anthropic", {"provider": "anthropic"}),
        ("what did the SEARCH platform cost", {"project": "Search Platform"}),
        ("only the legal project", {"project": "legal"}),
        ("what did acme-corp cost", {"end_user": "acme-corp"}),
        ("support triage spend", {"feature": "support-triage"}),
        ("spend on legal", {"project": "legal"}),
        ("how much did chat cost", {"feature": "chat"}),
        ("How much did support triage cost last week?", {"feature": "support-triage"}),
    ],
)
def test_names_are_matched_against_the_orgs_values(question, filters):
    intent = parse(question, VOCAB)
    assert intent.filters == filters
    if filters:
        assert intent.matches or all(isinstance(v, str) for v in filters.values())


@pytest.mark.parametrize(
    ("question", "column", "text"),
    [("what did llama cost", "model", "llama"), ("the foo project", "project", "foo"),
     ("spend on gpt-9-ultra", "model", "gpt-9-ultra"), ("customer zeta spend", "end_user", "zeta")],
)  # fmt: skip
def test_a_name_that_matches_nothing_is_reported_with_the_nearest(question, column, text):
    intent = parse(question, VOCAB)
    assert [(u["column"], u["text"]) for u in intent.unmatched] == [(column, text)]
    assert intent.unmatched[0]["nearest"]


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("in November 2023", datetime(2023, 11, 1, tzinfo=UTC), "2023-11-30T23:59:59.999"),
        ("between 2023-11-01 and 2023-11-30", datetime(2023, 11, 1, tzinfo=UTC),
         "2023-11-30T23:59:59.999"),
        ("from 1 Nov 2023 to 15 Nov 2023", datetime(2023, 11, 1, tzinfo=UTC),
         "2023-11-15T23:59:59.999"),
        ("in March", datetime(2026, 3, 1, tzinfo=UTC), "2026-03-31T23:59:59.999"),
        ("between Nov 1 and Nov 15", datetime(2026, 11, 1, tzinfo=UTC),
         "2026-11-15T23:59:59.999"),
        ("from 20 December to 5 January", datetime(2025, 12, 20, tzinfo=UTC),
         "2026-01-05T23:59:59.999"),
        ("in December", datetime(2025, 12, 1, tzinfo=UTC), "2025-12-31T23:59:59.999"),
        ("Q3", datetime(2026, 7, 1, tzinfo=UTC), "2026-09-30T23:59:59.999"),
        ("q1 2024", datetime(2024, 1, 1, tzinfo=UTC), "2024-03-31T23:59:59.999"),
        ("since Monday", datetime(2026, 11, 16, tzinfo=UTC), "2026-11-20T12:00:00"),
        ("since Friday", datetime(2026, 11, 20, tzinfo=UTC), "2026-11-20T12:00:00"),
        ("yesterday", datetime(2026, 11, 19, tzinfo=UTC), "2026-11-19T23:59:59.999"),
        ("last week", datetime(2026, 11, 13, 12, tzinfo=UTC), "2026-11-20T12:00:00"),
        ("the past two weeks", datetime(2026, 11, 6, 12, tzinfo=UTC), "2026-11-20T12:00:00"),
        ("this month", datetime(2026, 11, 1, tzinfo=UTC), "2026-11-20T12:00:00"),
    ],
)  # fmt: skip
def test_periods_resolve_against_the_anchor(question, start, end):
    w = periods.resolve(periods.parse_period(question), ANCHOR, datetime(2020, 1, 1, tzinfo=UTC),
                        "latest_usage")  # fmt: skip
    assert w.start == start
    assert w.end == datetime.fromisoformat(end).replace(tzinfo=UTC)


def test_this_month_vs_last_month_compares_calendar_months():
    intent = parse("this month vs last month", VOCAB)
    assert intent.kind == "compare"
    first, second = (periods.Period.from_dict(p) for p in intent.compare["periods"])
    assert (first.kind, second.kind) == ("this_month", "prev_month")
    w = periods.resolve(second, ANCHOR, ANCHOR, "latest_usage")
    assert (w.start, w.label) == (datetime(2026, 10, 1, tzinfo=UTC), "October 2026")


def test_an_intent_survives_the_report_round_trip():
    intent = parse("what would the legal project cost on gpt-4o-mini in Q3?", VOCAB)
    assert intent.kind == "what_if" and intent.target == {"provider": "openai",
                                                          "model": "gpt-4o-mini"}  # fmt: skip
    back = Intent.from_dict(intent.to_dict())
    assert (back.kind, back.filters, back.period, back.target) == (
        intent.kind, intent.filters, intent.period, intent.target)  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "question", "kind", "filters"),
    [
        ("what did we spend on Claude last week?", "and for gpt-4o-mini?", "spend",
         {"model": "gpt-4o-mini"}),
        ("what did we spend on Claude last week?", "only the legal project", "spend",
         {"model": ("claude-3-5-sonnet", "claude-3-haiku"), "project": "legal"}),
        ("what did we spend on Claude last week?", "why?", "why",
         {"model": ("claude-3-5-sonnet", "claude-3-haiku")}),
        ("how can we cut spend on the legal project?", "and conv?", "optimize",
         {"project": "conv"}),
    ],
)  # fmt: skip
def test_follow_ups_change_only_what_they_name(previous, question, kind, filters):
    prev = parse(previous, VOCAB)
    intent = parse(question, VOCAB, prev)
    assert intent.follow_up and intent.kind == kind and intent.filters == filters
    assert intent.period == prev.period


def test_a_whole_new_question_in_a_thread_starts_afresh():
    prev = parse("what did we spend on Claude last week?", VOCAB)
    intent = parse("For the legal project, how much did we spend in October?", VOCAB, prev)
    assert not intent.follow_up and intent.filters == {"project": "legal"}
    assert parse("for conv?", VOCAB, prev).filters == {
        "model": ("claude-3-5-sonnet", "claude-3-haiku"), "project": "conv"}  # fmt: skip


@pytest.mark.parametrize("question", ["hello", "what's the weather?", "tell me a joke"])
def test_small_talk_is_not_read_as_a_savings_request(question):
    assert parse(question, VOCAB).kind == "help"


@pytest.mark.parametrize(
    ("question", "first", "second"),
    [("is our spend going up?", "default", "before"),
     ("how does gpt-4o compare to gpt-4o-mini?", None, None)],
)  # fmt: skip
def test_trend_questions_compare_with_the_period_before(question, first, second):
    intent = parse(question, VOCAB)
    assert intent.kind == "compare"
    if first:
        assert [p["kind"] for p in intent.compare["periods"]] == [first, second]
    else:
        assert intent.compare["labels"] == ["gpt-4o", "gpt-4o-mini"]


def test_a_what_if_on_a_family_word_uses_the_orgs_one_model_of_it():
    intent = parse("what would the legal project cost on Haiku?", VOCAB)
    assert intent.target == {"provider": "anthropic", "model": "claude-3-haiku"}


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [("what did we spend in 2023?", datetime(2023, 1, 1, tzinfo=UTC), "2023-12-31T23:59:59.999"),
     ("spend last quarter", datetime(2026, 7, 1, tzinfo=UTC), "2026-09-30T23:59:59.999"),
     ("so far this year", datetime(2026, 1, 1, tzinfo=UTC), "2026-11-20T12:00:00"),
     ("month to date", datetime(2026, 11, 1, tzinfo=UTC), "2026-11-20T12:00:00")],
)  # fmt: skip
def test_years_and_quarters(question, start, end):
    w = periods.resolve(periods.parse_period(question), ANCHOR, ANCHOR, "latest_usage")
    assert (w.start, w.end) == (start, datetime.fromisoformat(end).replace(tzinfo=UTC))

"""The question bank: phrasings a user types, each answered over real HTTP against a
generated workload (tests/analyst/bank.py), each figure checked against the rows themselves
(selected and summed in Python, not by the analyst's SQL). The whole bank runs twice: with
no language model, and with the local OpenAI-compatible server answering a misleading intent
for every usage question — the rules' reading must stand (the model may only fill gaps)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.analyst import bank
from tests.analyst.bank import CLAUDE, GPT_4O, LATEST, MS, day_start, last, month
from tests.support.analyst import agents_of, ask
from tokenomist.analyst import fmt, render

PRICER, ROWS = bank.PRICER, bank.ROWS
DEFAULT = last(30)
MONDAY = day_start(LATEST) - timedelta(days=LATEST.weekday())
YESTERDAY = (day_start(LATEST) - timedelta(days=1), day_start(LATEST) - MS)
HELP = bank.HELP


@dataclass
class Case:
    question: str
    window: tuple[datetime, datetime] | None = None
    filters: dict[str, Any] = field(default_factory=dict)  # as the report states them
    kind: str = "spend"
    check: Callable[[dict, str], None] | None = None

    def selected(self, window=None, **extra) -> list[bank.Row]:
        start, end = window or self.window
        wanted = {**self.filters, **extra}
        sets = {k: v if isinstance(v, str) else set(v) for k, v in wanted.items()}
        return bank.select(ROWS, start, end, **sets)


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _window_is(report: dict, window: tuple[datetime, datetime]) -> None:
    w = report["window"]
    assert (_t(w["from"]), _t(w["to"])) == window, w


def _spend_matches(case: Case, report: dict, content: str) -> None:
    rows = case.selected()
    assert rows, f"the bank's case {case.question!r} selects no rows"
    _window_is(report, case.window)
    assert report["filters"] == case.filters
    assert report["requests"] == len(rows)
    assert report["spend_usd"] == pytest.approx(bank.spend(rows), abs=1e-4)
    assert fmt.money(report["spend_usd"]) in content
    assert report["unpriced_requests"] == sum(r.cost is None for r in rows)


def _ranking(dimension: str, limit: int | None = None):
    def check(case: Case, report: dict, content: str) -> None:
        _spend_matches(case, report, content)
        by: dict[str, float] = {}
        for r in case.selected():
            by[getattr(r, dimension)] = by.get(getattr(r, dimension), 0.0) + (r.cost or 0.0)
        ranked = sorted(by.items(), key=lambda kv: -kv[1])[: limit or len(by)]
        groups = report["breakdown"]["groups"]
        assert report["breakdown"]["dimension"] == dimension
        assert [g["key"][dimension] for g in groups] == [k for k, _ in ranked]
        for g, (_, cost) in zip(groups, ranked, strict=True):
            assert (g["cost_usd"] or 0.0) == pytest.approx(cost, abs=1e-4)
        label = dimension.replace("_", " ")
        assert f"Largest {label}: **{ranked[0][0]}**" in content

    return check


def _compare(sides: list[tuple[tuple[datetime, datetime], dict]]):
    def check(case: Case, report: dict, content: str) -> None:
        got = report["comparison"]["sides"]
        assert len(got) == 2
        for side, (window, filters) in zip(got, sides, strict=True):
            rows = case.selected(window, **filters)
            assert (_t(side["window"]["from"]), _t(side["window"]["to"])) == window
            assert side["requests"] == len(rows)
            assert side["cost_usd"] == pytest.approx(bank.spend(rows), abs=1e-4)
        stated = [s for s in report["statements"] if s.startswith("Window: ")]
        assert len(stated) == (2 if sides[0][0] != sides[1][0] else 1), report["statements"]
        delta = got[0]["cost_usd"] - got[1]["cost_usd"]
        assert report["comparison"]["delta_usd"] == pytest.approx(delta, abs=1e-3)

    return check


def _what_if(provider: str, model: str):
    def check(case: Case, report: dict, content: str) -> None:
        rows = case.selected()
        _spend_matches(case, report, content)
        expected = sum(
            PRICER.cost(provider, model, input_tokens=r.input_tokens,
                        cached_input_tokens=r.cached_input_tokens, output_tokens=r.output_tokens)
            for r in rows
        )  # fmt: skip
        w = report["what_if"]
        assert (w["provider"], w["model"]) == (provider, model)
        assert w["cost_usd"] == pytest.approx(expected, abs=1e-4)
        assert w["actual_cost_usd"] == pytest.approx(bank.spend(rows), abs=1e-4)
        new, old = fmt.money_pair(w["cost_usd"], w["actual_cost_usd"])
        assert f"would cost **{new}** instead of **{old}**" in content

    return check


def _unpriced(case: Case, report: dict, content: str) -> None:
    rows = [r for r in case.selected() if r.cost is None]
    _window_is(report, case.window)
    assert [(m["provider"], m["model"], m["requests"]) for m in report["unpriced_models"]] == [
        ("acme", "acme-llm-9000", len(rows))
    ]
    assert "acme-llm-9000" in content


def _no_match(column: str, text: str, among: set[str]):
    def check(case: Case, report: dict, content: str) -> None:
        assert report["unmatched"] and report["unmatched"][0]["column"] == column
        assert report["unmatched"][0]["text"].lower() == text
        assert report["unmatched"][0]["nearest"] and set(report["unmatched"][0]["nearest"]) <= among
        assert report["spend_usd"] is None and "$" not in content
        assert f"matches “{report['unmatched'][0]['text']}”" in content

    return check


def _help(case: Case, report: dict, content: str) -> None:
    assert report["intent"]["kind"] == "help" and report["spend_usd"] is None
    assert "I can answer questions about" in content and "$" not in content


def _run_rate_from_traffic(case: Case, report: dict, content: str) -> None:
    _spend_matches(case, report, content)
    rows = case.selected()
    active = bank.active_days(rows, *case.window)
    assert report["window"]["active_days"] == pytest.approx(active, abs=1e-3)
    assert report["monthly_run_rate_usd"] == pytest.approx(bank.spend(rows) * 30 / active, rel=1e-4)
    assert any(s.startswith("No traffic on ") for s in report["statements"]), report["statements"]


def _left_out(case: Case, report: dict, content: str) -> None:
    _spend_matches(case, report, content)
    before = bank.select(ROWS, None, case.window[0] - MS)
    assert report["left_out"]["before"]["requests"] == len(before)
    assert f"{len(before):,} requests before this window" in content


def _excluding(column: str, *left_out: str):
    def check(case: Case, report: dict, content: str) -> None:
        rows = [r for r in case.selected() if getattr(r, column) not in left_out]
        _window_is(report, case.window)
        assert report["filters"] == case.filters
        assert report["exclude"] == {column: sorted(left_out)}
        assert report["requests"] == len(rows) > 0
        assert report["spend_usd"] == pytest.approx(bank.spend(rows), abs=1e-4)
        assert f"{column} not in {{{', '.join(sorted(left_out))}}}" in content

    return check


def _all_unpriced(case: Case, report: dict, content: str) -> None:
    _window_is(report, case.window)
    assert report["filters"] == case.filters
    assert report["requests"] == len(case.selected()) == report["unpriced_requests"] > 0
    assert report["spend_usd"] is None and "unpriced" in content


def _own_days(case: Case, report: dict, content: str) -> None:
    _spend_matches(case, report, content)
    assert report["window"]["label"] == "all of its data (58 minutes, to 2023-11-16)"
    assert report["window"]["label"] in content


def _empty_window(case: Case, report: dict, content: str) -> None:
    """No rows of the scope in the window: said, with where its rows are; never "$0.00"."""
    _window_is(report, case.window)
    assert report["requests"] == 0 and "No requests in this window" in content
    assert report["left_out"]["before"]["requests"] == bank.OLD_ROWS
    assert f"{bank.OLD_ROWS} requests before this window" in content
    assert "'November 2023'" in content


OLD_LATEST = bank.OLD_START + timedelta(seconds=12 * (bank.OLD_ROWS - 1))
CONV_DEFAULT = (bank.OLD_START, OLD_LATEST)  # all of its data: less than 30 days
MODELS = {m for _, m, *_ in bank.COMBOS}
PROJECTS = {"legal", "support", "search-platform", "conv"}
CASES = [
    # model families, aliases and dated ids
    Case("What did we spend on Claude models last week?", last(7), {"model": sorted(CLAUDE)}),
    Case("How much did Claude cost last week?", last(7), {"model": sorted(CLAUDE)}),
    Case("what did we spend on gpt-4o last week?", last(7), {"model": sorted(GPT_4O)}),
    Case("spend on gpt-4o-2024-08-06 last week", last(7), {"model": "gpt-4o-2024-08-06"}),
    Case("How much did the mini models cost last week?", last(7), {"model": "gpt-4o-mini"}),
    Case("Gemini spend in the last 3 days", last(3),
         {"model": ["gemini-1.5-flash", "gemini-1.5-pro"]}),
    Case("what did GPT 4o mini cost yesterday", YESTERDAY, {"model": "gpt-4o-mini"}),
    # providers, projects, features, end users (case and punctuation aside)
    Case("how much did we spend with Anthropic last week?", last(7), {"provider": "anthropic"}),
    Case("OpenAI spend this month", (datetime(2026, 11, 1, tzinfo=UTC), LATEST),
         {"provider": "openai"}),
    Case("what did the legal project spend last week?", last(7), {"project": "legal"}),
    Case("Support Triage spend last week", last(7), {"feature": "support-triage"}),
    Case("how much did acme-corp cost us last week?", last(7), {"end_user": "acme-corp"}),
    Case("spend for customer Globex in the last 14 days", last(14), {"end_user": "globex"}),
    Case("cost of the Search Platform project since Monday", (MONDAY, LATEST),
         {"project": "search-platform"}),
    # explicit and relative windows
    Case("What did we spend in November 2023?", month(2023, 11)),
    Case("spend between 2023-11-01 and 2023-11-30", month(2023, 11)),
    Case("how much did we spend between Oct 1, 2026 and Oct 15, 2026?",
         (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 16, tzinfo=UTC) - MS)),
    Case("what did we spend between Nov 1 and Nov 15?",
         (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC) - MS)),
    Case("how much did we spend yesterday?", YESTERDAY),
    Case("how much did we spend since Monday?", (MONDAY, LATEST)),
    Case("what did we spend in Q4?", (datetime(2026, 10, 1, tzinfo=UTC), month(2026, 12)[1])),
    Case("spend in Q3 2026", (datetime(2026, 7, 1, tzinfo=UTC), month(2026, 9)[1])),
    Case("how much did we spend this month?", (datetime(2026, 11, 1, tzinfo=UTC), LATEST)),
    Case("how much did we spend in October?", month(2026, 10)),
    Case("what did we spend on 2026-10-05?",
         (datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 6, tzinfo=UTC) - MS)),
    Case("total spend over all time", (bank.OLD_START, LATEST)),
    Case("what did we spend in the past two weeks?", last(14)),
    Case("what did we spend in 2023?", (datetime(2023, 1, 1, tzinfo=UTC),
                                        datetime(2024, 1, 1, tzinfo=UTC) - MS)),
    Case("how much have we spent so far this year?", (datetime(2026, 1, 1, tzinfo=UTC), LATEST)),
    Case("spend last quarter", (datetime(2026, 7, 1, tzinfo=UTC), month(2026, 9)[1])),
    Case("How much did chat cost last week?", last(7), {"feature": "chat"}, check=_all_unpriced),
    # a project whose data is all older than the default window: its own days, said so
    Case("what did we spend on the conv project?", CONV_DEFAULT, {"project": "conv"},
         check=_own_days),
    Case("what did the conv project spend last week?", last(7), {"project": "conv"},
         check=_empty_window),
    # rankings
    Case("which feature costs most?", DEFAULT, check=_ranking("feature")),
    Case("top 3 end users last week", last(7), check=_ranking("end_user", 3)),
    Case("which project spent the most in November 2023?", month(2023, 11),
         check=_ranking("project")),
    Case("cost by provider last week", last(7), check=_ranking("provider")),
    Case("which models cost the most last week?", last(7), check=_ranking("model")),
    Case("spend on Claude models excluding the legal project last week", last(7),
         {"model": sorted(CLAUDE)}, check=_excluding("project", "legal")),
    Case("what did we spend on everything except Gemini last week?", last(7),
         check=_excluding("model", "gemini-1.5-flash", "gemini-1.5-pro")),
    # comparisons
    Case("this month vs last month", kind="compare", check=_compare([
        ((datetime(2026, 11, 1, tzinfo=UTC), LATEST), {}), (month(2026, 10), {})])),
    Case("gpt-4o vs claude last week", kind="compare", check=_compare([
        (last(7), {"model": GPT_4O}), (last(7), {"model": CLAUDE})])),
    Case("compare Anthropic with Google over the last 14 days", kind="compare", check=_compare([
        (last(14), {"provider": "anthropic"}), (last(14), {"provider": "google"})])),
    Case("is our spend going up?", kind="compare", check=_compare([
        (DEFAULT, {}), ((DEFAULT[0] - timedelta(days=30) - MS, DEFAULT[0] - MS), {})])),
    Case("last week vs the week before", kind="compare", check=_compare([
        (last(7), {}), ((LATEST - timedelta(days=14) - MS, LATEST - timedelta(days=7) - MS), {})])),
    # what-if on another model, priced by the pricing module on the same tokens
    Case("what would support-triage cost on gpt-4o-mini?", DEFAULT,
         {"feature": "support-triage"}, "what_if", _what_if("openai", "gpt-4o-mini")),
    Case("what would the legal project cost on claude-3-haiku last week?", last(7),
         {"project": "legal"}, "what_if", _what_if("anthropic", "claude-3-haiku")),
    Case("how much would we save by moving support-triage to claude-3-haiku?", DEFAULT,
         {"feature": "support-triage"}, "what_if", _what_if("anthropic", "claude-3-haiku")),
    Case("what if we moved query-rewrite to gemini-1.5-flash?", DEFAULT,
         {"feature": "query-rewrite"}, "what_if", _what_if("google", "gemini-1.5-flash")),
    # unpriced models
    Case("which models are unpriced?", DEFAULT, kind="unpriced", check=_unpriced),
    Case("which models have no price last week?", last(7), kind="unpriced", check=_unpriced),
    # names that match nothing, and questions the analyst cannot answer
    Case("what did the llama models cost?", check=_no_match("model", "llama", MODELS)),
    Case("how much did the foo project spend?", check=_no_match("project", "foo", PROJECTS)),
    Case("spend on the sales project last week", check=_no_match("project", "sales", PROJECTS)),
    *[Case(q, kind="help", check=_help) for q in HELP],
    # savings, what the default window leaves out, run-rates across a gap
    Case("How can we cut our AI spend?", DEFAULT, kind="optimize"),
    Case("how much did we spend?", DEFAULT, check=_left_out),
    Case("how much did we spend in the last 30 days?", DEFAULT, check=_run_rate_from_traffic),
    Case("how much did the conv project spend over all time?", (bank.OLD_START, LATEST),
         {"project": "conv"}, check=_run_rate_from_traffic),
]  # fmt: skip


def _anomalies(case: Case, report: dict, content: str) -> None:
    # The bank's traffic is steady: no day stands out from the same weekday of earlier weeks.
    _spend_matches(case, report, content)
    assert report["anomalies"] == []
    assert "No day in this window spent unusually" in content


def _budgets(case: Case, report: dict, content: str) -> None:
    _spend_matches(case, report, content)
    assert report["budgets"]["budgets"] == []
    month = report["budgets"]["month_forecast"]
    # The bank's data ends before the clock's month: nothing spent in it yet, and its
    # forecast is the run-rate of the history still inside the last 28 days (if any).
    assert month["spent_usd"] == 0.0
    assert f"forecast for the month **{render.amount_text(month['forecast_usd'])}**" in content
    assert "No budget is set" in content


BUDGET_CASES = [
    Case("Why did spend jump yesterday?", YESTERDAY, kind="anomalies", check=_anomalies),
    Case("any unusual spend last week?", last(7), kind="anomalies", check=_anomalies),
    Case("did the legal project's costs spike last week?", last(7), {"project": "legal"},
         kind="anomalies", check=_anomalies),
    Case("Are we on track for our budget?", DEFAULT, kind="budget", check=_budgets),
    Case("will we go over budget this month?", (datetime(2026, 11, 1, tzinfo=UTC), LATEST),
         kind="budget", check=_budgets),
]  # fmt: skip
CASES += BUDGET_CASES


def test_the_bank_has_at_least_forty_phrasings():
    assert len({c.question for c in CASES}) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.question for c in CASES])
async def test_question_bank(bank_org, case: Case):
    srv, user, mode = bank_org
    run, frames = await ask(srv, user, case.question)
    assert run["status"] == "completed", run
    report, content = run["report"], run["content"]
    assert report["intent"]["kind"] == case.kind, report["intent"]
    if mode == "llm" and case.kind != "help":
        assert report["llm"]["intent"] == "llm"  # the model answered; its reading lost
    if case.check is not None:
        case.check(case, report, content)
    else:
        _spend_matches(case, report, content)
    if case.kind == "optimize":
        assert agents_of(frames) == ["triage", "data", "optimization", "actions", "reporting"]
    elif report["answerable"]:
        assert agents_of(frames) == ["triage", "data", "reporting"]
        assert report["statements"][0].startswith("Window: ")
        assert "### What this covers" in content
    # Never a silent $0 (small amounts show their digits: "$0.0089" is not "$0.00").
    assert not re.search(r"\$0\.00(?!\d)", content) or report["spend_usd"] == 0

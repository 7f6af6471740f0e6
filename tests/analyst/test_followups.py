"""Follow-ups in a thread: a short question is read against the previous answer's intent
("and for gpt-4o?", "only the legal project", "why?", "and on claude-3-haiku?"), over real
HTTP on the bank's workload, with and without the language model; figures from the rows."""

from __future__ import annotations

import asyncio

import pytest

from tests.analyst import bank
from tests.analyst.bank import CLAUDE, GPT_4O, last
from tests.support.analyst import get_run, read_events, start_run
from tokenomist.analyst import fmt


async def _thread(srv, user, questions: list[str]) -> list[dict]:
    runs, thread = [], None
    for q in questions:
        accepted = await start_run(srv, user, q, **({"thread_id": thread} if thread else {}))
        thread = accepted["thread_id"]
        await asyncio.wait_for(read_events(srv, user, accepted["run_id"]), 120)
        run = (await get_run(srv, user, accepted["run_id"])).json()
        assert run["status"] == "completed", run
        runs.append(run)
    return runs


def _spend_of(run: dict, window, **filters) -> None:
    rows = bank.select(bank.ROWS, *window, **filters)
    report = run["report"]
    assert report["requests"] == len(rows)
    assert report["spend_usd"] == pytest.approx(bank.spend(rows), abs=1e-4)
    assert fmt.money(report["spend_usd"]) in run["content"]


async def test_follow_ups_narrow_the_previous_question(bank_org):
    srv, user, _ = bank_org
    claude, gpt, legal, why = await _thread(
        srv,
        user,
        [
            "What did we spend on Claude models last week?",
            "and for gpt-4o?",
            "only the legal project",
            "why?",
        ],
    )
    _spend_of(claude, last(7), model=CLAUDE)
    _spend_of(gpt, last(7), model=GPT_4O)
    assert gpt["report"]["filters"] == {"model": sorted(GPT_4O)}
    assert gpt["report"]["intent"]["follow_up"] is True
    assert any(s.startswith("Read as a follow-up") for s in gpt["report"]["statements"])
    _spend_of(legal, last(7), model=GPT_4O, project="legal")
    assert legal["report"]["filters"] == {"model": sorted(GPT_4O), "project": "legal"}
    # "why?" keeps the scope and shows what drove it against the week before.
    assert why["report"]["intent"]["kind"] == "why"
    _spend_of(why, last(7), model=GPT_4O, project="legal")
    drivers = why["report"]["why"]["drivers"]
    total = sum(d["cost_usd"] for d in drivers)
    assert total == pytest.approx(why["report"]["spend_usd"], abs=1e-4)
    start = bank.LATEST - 2 * (bank.LATEST - last(7)[0]) - bank.MS
    before = bank.select(bank.ROWS, start, last(7)[0] - bank.MS, model=GPT_4O, project="legal")
    assert why["report"]["why"]["spend_before_usd"] == pytest.approx(bank.spend(before), abs=1e-4)


async def test_a_follow_up_on_a_what_if_changes_its_target_model(bank_org):
    srv, user, _ = bank_org
    first, second = await _thread(
        srv,
        user,
        ["what would support-triage cost on gpt-4o-mini?", "and on claude-3-haiku?"],
    )
    assert first["report"]["what_if"]["model"] == "gpt-4o-mini"
    w = second["report"]["what_if"]
    assert (w["provider"], w["model"]) == ("anthropic", "claude-3-haiku")
    assert second["report"]["filters"] == {"feature": "support-triage"}
    rows = bank.select(bank.ROWS, *last(30), feature="support-triage")
    expected = sum(
        bank.PRICER.cost("anthropic", "claude-3-haiku", input_tokens=r.input_tokens,
                         cached_input_tokens=r.cached_input_tokens, output_tokens=r.output_tokens)
        for r in rows
    )  # fmt: skip
    assert w["cost_usd"] == pytest.approx(expected, abs=1e-4)


async def test_a_new_full_question_in_a_thread_is_not_a_follow_up(bank_org):
    srv, user, _ = bank_org
    _, fresh = await _thread(
        srv,
        user,
        ["What did we spend on Claude models last week?", "how much did we spend in October?"],
    )
    assert fresh["report"]["filters"] == {}
    _spend_of(fresh, bank.month(2026, 10))

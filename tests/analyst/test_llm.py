"""The optional language model, against a local OpenAI-compatible server over real HTTP:
used when it answers; on a timeout, garbage or an ungrounded summary the run completes on
the deterministic path and the report says so."""

from __future__ import annotations

import pytest

from tests.analyst.llm_server import FakeLLM
from tests.support.analyst import agents_of, ask, demo_workload, load, register
from tests.support.servers import live_server

QUESTION = "How can we cut our AI spend?"


@pytest.fixture
async def fake_llm():
    async with FakeLLM().serve() as llm:
        yield llm


def llm_settings(make_settings, llm: FakeLLM, timeout_s: float = 5.0):
    return make_settings(
        llm="openai",
        llm_base_url=llm.base_url,
        llm_api_key="test-key",
        llm_model="test-model",
        llm_timeout_s=timeout_s,
    )


async def test_a_model_that_answers_parses_the_intent_and_writes_the_summary(
    make_settings, fake_llm
):
    # The rules would read this as a request for savings; the model says "spend on gpt-4o".
    fake_llm.intent = {
        "kind": "spend",
        "dimension": None,
        "period": {"kind": "last", "days": 7},
        "filters": {"model": "gpt-4o"},
    }
    async with live_server(llm_settings(make_settings, fake_llm)) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        run, frames = await ask(srv, user, "tell me about the big model")
    report = run["report"]
    assert agents_of(frames) == ["triage", "data", "reporting"]
    assert report["filters"] == {"model": "gpt-4o"}
    assert report["window"]["days"] == 7
    assert report["llm"] == {
        "provider": "openai",
        "model": "test-model",
        "intent": "llm",
        "narrative": "llm",
    }
    assert f"LLM-NARRATIVE: your window spend was ${report['spend_usd']:,.2f}" in run["content"]
    assert [r["auth"] for r in fake_llm.requests] == ["Bearer test-key"] * 2
    assert {r["body"]["model"] for r in fake_llm.requests} == {"test-model"}
    assert not any("language model" in a for a in report["assumptions"])


async def _deterministic_plan(make_settings) -> dict:
    async with live_server(make_settings()) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        run, _ = await ask(srv, user, QUESTION)
    return run["report"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("hang", "did not answer within 0.5 s"),
        ("garbage", "returned a malformed completion"),
    ],
)
async def test_a_failing_model_degrades_to_the_deterministic_path(
    make_settings, fake_llm, mode, reason
):
    fake_llm.mode = mode
    async with live_server(llm_settings(make_settings, fake_llm, timeout_s=0.5)) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        run, frames = await ask(srv, user, QUESTION)
    assert run["status"] == "completed"
    assert frames[-1]["type"] == "run_completed"
    report = run["report"]
    assert len(fake_llm.requests) == 2  # intent and summary were both attempted
    assert report["llm"]["intent"] == "rules" and report["llm"]["narrative"] == "rules"
    fallbacks = report["llm"]["fallbacks"]
    assert len(fallbacks) == 2 and all(reason in f for f in fallbacks), fallbacks
    assert any(reason in a and "deterministic path answered" in a for a in report["assumptions"])
    assert "deterministic path answered" in run["content"]
    summaries = {f["data"]["agent"]: f["data"]["summary"] for f in frames
                 if f["type"] == "agent_completed"}  # fmt: skip
    assert reason in summaries["triage"] and reason in summaries["reporting"]
    # Same plan as with no model at all.
    baseline = await _deterministic_plan(make_settings)
    assert [(s["id"], s["savings_usd"]) for s in report["strategies"]] == [
        (s["id"], s["savings_usd"]) for s in baseline["strategies"]
    ]


async def test_a_summary_citing_figures_not_in_the_data_is_rejected(make_settings, fake_llm):
    fake_llm.mode = "ungrounded"
    async with live_server(llm_settings(make_settings, fake_llm)) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        run, _ = await ask(srv, user, QUESTION)
    report = run["report"]
    assert report["llm"]["intent"] == "llm"  # the intent answer was fine
    assert report["llm"]["narrative"] == "rules"
    assert "switching everything to a free model" not in run["content"]
    assert any("$999,999.99, which is not in the data" in f for f in report["llm"]["fallbacks"])


async def test_filters_the_data_does_not_contain_are_dropped_and_said(make_settings, fake_llm):
    fake_llm.intent = {
        "kind": "spend",
        "dimension": "feature",
        "period": {"kind": "all", "days": None},
        "filters": {"model": "gpt-9-ultra"},
    }
    async with live_server(llm_settings(make_settings, fake_llm)) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        run, _ = await ask(srv, user, "what about gpt-9-ultra?")
    report = run["report"]
    assert report["filters"] == {}
    assert any("model=gpt-9-ultra" in a for a in report["assumptions"])

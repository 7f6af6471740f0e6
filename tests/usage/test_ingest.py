"""The ingest service against the real analytics tier (chDB): idempotency on (org, request_id),
content-derived ids, unpriced rows in summaries, org isolation, bulk and row paths agreeing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support.usage import AZURE_CONV, FIXTURES, org, require_azure
from tokenomist.kit.errors import Unprocessable
from tokenomist.usage import service
from tokenomist.usage.demo import generate
from tokenomist.usage.formats import ImportOptions


def rec(**over) -> dict:
    base = {
        "timestamp": "2026-10-01T12:00:00Z", "provider": "openai", "model": "gpt-4o",
        "input_tokens": 1000, "output_tokens": 100,
    }  # fmt: skip
    return {**base, **over}


async def stored(resources, org_id: str) -> list[dict]:
    return await resources.org_usage(org_id).query(
        "SELECT request_id, model, input_tokens, cost_usd, price_source, source, metadata "
        "FROM {usage} ORDER BY request_id"
    )


async def test_reimport_changes_nothing(resources):
    org_id = org()
    data = (FIXTURES / "canonical.json").read_bytes()
    first = await service.import_bytes(resources, org_id, data)
    assert (first.accepted, first.duplicates, first.rejected, first.unpriced) == (4, 0, 0, 1)
    before = await stored(resources, org_id)
    summary_before = await service.summary(
        resources, org_id, start=None, end=None, group_by="model"
    )
    again = await service.import_bytes(resources, org_id, data)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 4, 0)
    assert again.cost_usd == 0.0
    assert await stored(resources, org_id) == before
    assert (
        await service.summary(resources, org_id, start=None, end=None, group_by="model")
        == summary_before
    )


async def test_records_without_request_id_get_a_content_id(resources):
    org_id = org()
    records = [rec(), rec(), rec(output_tokens=101)]
    report = await service.ingest_records(resources, org_id, records, source="api")
    # the two identical records are one call; the third differs
    assert (report.accepted, report.duplicates) == (2, 1)
    rows = await stored(resources, org_id)
    assert all(r["request_id"].startswith("auto-") for r in rows)
    again = await service.ingest_records(resources, org_id, records, source="api")
    assert (again.accepted, again.duplicates) == (0, 3)


async def test_same_request_id_with_new_content_is_a_duplicate(resources):
    org_id = org()
    await service.ingest_records(resources, org_id, [rec(request_id="r1")], source="api")
    report = await service.ingest_records(
        resources, org_id, [rec(request_id="r1", output_tokens=999)], source="api"
    )
    assert (report.accepted, report.duplicates) == (0, 1)
    assert (await stored(resources, org_id))[0]["input_tokens"] in (1000, "1000")


async def test_valid_rows_land_and_errors_name_index_field_reason(resources):
    org_id = org()
    report = await service.ingest_records(
        resources,
        org_id,
        [
            rec(request_id="a"),
            rec(request_id="b", input_tokens=-1),
            "not an object",
            rec(request_id="c", timestamp="2999-01-01T00:00:00Z"),
            rec(request_id="d", model="mystery-model-x"),
        ],
        source="api",
    )
    assert (report.accepted, report.rejected, report.unpriced) == (2, 3, 1)
    assert [e.as_dict() for e in report.errors] == [
        {"index": 1, "field": "input_tokens", "message": "must not be negative"},
        {"index": 2, "field": "", "message": "a record must be a JSON object, got str"},
        {"index": 3, "field": "timestamp",
         "message": "is in the future (more than a day ahead of the server clock)"},
    ]  # fmt: skip
    rows = await stored(resources, org_id)
    assert [r["request_id"] for r in rows] == ["a", "d"]
    assert rows[1]["cost_usd"] is None
    assert rows[0]["price_source"].startswith("genai-prices ")


@pytest.mark.parametrize("huge", [10**20, -(10**20), 1e30, str(10**20)])
async def test_an_integer_too_large_for_a_column_is_a_row_error_not_a_500(resources, huge):
    org_id = org()
    records = [rec(request_id="big", input_tokens=huge), rec(request_id="ok")]
    report = await service.ingest_records(resources, org_id, records, source="api")
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.errors[0].as_dict() == {
        "index": 0, "field": "input_tokens", "message": f"is out of range, got {huge!r}",
    }  # fmt: skip
    ndjson = json.dumps(rec(request_id="big2", max_tokens=huge)).encode() + b"\n"
    report = await service.import_bytes(resources, org_id, ndjson, format="canonical")
    assert (report.accepted, report.rejected) == (0, 1)
    assert (report.errors[0].index, report.errors[0].field) == (1, "max_tokens")


async def test_unknown_model_is_unpriced_in_summary_never_zero(resources):
    org_id = org()
    await service.ingest_records(
        resources,
        org_id,
        [rec(request_id="p"), rec(request_id="u1", model="brainiac"),
         rec(request_id="u2", model="brainiac")],
        source="api",
    )  # fmt: skip
    summary = await service.summary(resources, org_id, start=None, end=None, group_by="model")
    assert summary["totals"]["requests"] == 3
    assert summary["totals"]["unpriced_requests"] == 2
    assert summary["totals"]["cost_usd"] == pytest.approx(0.0035)
    groups = {g["key"]: g for g in summary["groups"]}
    assert groups["brainiac"]["cost_usd"] is None
    assert groups["brainiac"]["unpriced_requests"] == 2


async def test_summary_of_a_window_without_usage_spends_zero_not_unknown(resources):
    org_id = org()
    await service.ingest_records(
        resources, org_id, [rec(request_id="p"), rec(request_id="u", model="brainiac")],
        source="api",
    )  # fmt: skip
    empty = await service.summary(
        resources, org_id, start=datetime(2020, 1, 1, tzinfo=UTC),
        end=datetime(2020, 1, 2, tzinfo=UTC), group_by="model",
    )  # fmt: skip
    # Nothing was called, so nothing was spent: $0 is known, unlike an unpriced model.
    assert empty["totals"]["requests"] == 0
    assert empty["totals"]["cost_usd"] == 0.0
    assert empty["groups"] == []
    only_unpriced = await service.summary(
        resources, org_id, start=datetime(2026, 10, 1, tzinfo=UTC), end=None, group_by="model"
    )
    assert only_unpriced["totals"]["cost_usd"] == pytest.approx(0.0035)
    brand_new = await service.summary(resources, org(), start=None, end=None, group_by=None)
    assert brand_new["totals"]["cost_usd"] == 0.0 and brand_new["totals"]["requests"] == 0
    unknown_only = org()
    await service.ingest_records(resources, unknown_only, [rec(model="brainiac")], source="api")
    totals = (await service.summary(resources, unknown_only, start=None, end=None, group_by=None))[
        "totals"
    ]
    assert (totals["requests"], totals["unpriced_requests"], totals["cost_usd"]) == (1, 1, None)


async def test_summaries_are_isolated_per_org(resources):
    a, b = org(), org()
    await service.ingest_records(resources, a, [rec(request_id="x")], source="api")
    await service.ingest_records(
        resources, b, [rec(request_id="x", model="gpt-4o-mini"), rec(request_id="y")],
        source="api",
    )  # fmt: skip
    sa = await service.summary(resources, a, start=None, end=None, group_by="model")
    sb = await service.summary(resources, b, start=None, end=None, group_by="model")
    assert sa["totals"]["requests"] == 1 and [g["key"] for g in sa["groups"]] == ["gpt-4o"]
    assert sb["totals"]["requests"] == 2
    # the same request_id in another org is not a duplicate
    assert {g["key"] for g in sb["groups"]} == {"gpt-4o", "gpt-4o-mini"}


async def test_summary_window_and_grouping(resources):
    org_id = org()
    await service.ingest_records(
        resources,
        org_id,
        [rec(request_id="d1", timestamp="2026-10-01T10:00:00Z", project="a"),
         rec(request_id="d2", timestamp="2026-10-02T10:00:00Z", project="b"),
         rec(request_id="d3", timestamp="2026-10-03T10:00:00Z", project="b")],
        source="api",
    )  # fmt: skip
    start, end = datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 3, 10, tzinfo=UTC)
    s = await service.summary(resources, org_id, start=start, end=end, group_by="day")
    assert [g["key"] for g in s["groups"]] == ["2026-10-02"]  # `to` is exclusive
    s = await service.summary(resources, org_id, start=None, end=None, group_by="project")
    assert [(g["key"], g["requests"]) for g in s["groups"]] == [("b", 2), ("a", 1)]
    s = await service.summary(resources, org_id, start=None, end=None, group_by=None)
    assert s["groups"] == [] and s["totals"]["input_tokens"] == 3000


async def test_bulk_arrow_path_and_row_path_store_the_same(resources, monkeypatch):
    """A clean NDJSON file goes through Arrow (priced in two parallel halves); the same records
    as a list go row by row. Both store the same rows."""
    monkeypatch.setattr(service, "PARALLEL_MIN_ROWS", 100)
    records = generate(seed=3, days=2, end=datetime(2026, 11, 20, tzinfo=UTC)).records
    bulk_org, row_org = org(), org()
    body = b"".join(json.dumps({k: v for k, v in r.items() if k != "metadata"}).encode() + b"\n"
                    for r in records)  # fmt: skip
    bulk = await service.import_bytes(resources, bulk_org, body, format="canonical")
    rows = await service.ingest_records(
        resources, row_org, [{k: v for k, v in r.items() if k != "metadata"} for r in records],
        source="api",
    )  # fmt: skip
    assert bulk.accepted == rows.accepted == len(records)
    assert bulk.cost_usd == pytest.approx(rows.cost_usd)
    sql = (
        "SELECT request_id, timestamp, model, input_tokens, cached_input_tokens, "
        "cache_write_tokens, output_tokens, status, finish_reason, max_tokens, interactive, "
        "end_user, prefix_fingerprint, prefix_tokens, cost_usd FROM {usage} ORDER BY request_id"
    )
    assert await resources.org_usage(bulk_org).query(sql) == await resources.org_usage(
        row_org
    ).query(sql)


async def test_unparseable_input_is_refused_whole_with_reason(resources):
    with pytest.raises(Unprocessable) as info:
        await service.import_bytes(resources, org(), b"[{]", format="canonical")
    assert info.value.code == "unparseable_input"
    assert "not valid JSON" in info.value.message


async def test_real_azure_trace_import_and_reimport(resources):
    path = require_azure(AZURE_CONV)
    org_id = org()
    options = ImportOptions(provider="openai", model="gpt-4o", project="conv")
    report = await service.import_file(resources, org_id, path, options=options)
    assert (report.accepted, report.rejected, report.unpriced) == (19_366, 0, 0)
    summary = await service.summary(resources, org_id, start=None, end=None, group_by="project")
    assert summary["groups"][0]["key"] == "conv"
    assert summary["totals"]["requests"] == 19_366
    assert summary["totals"]["cost_usd"] == pytest.approx(report.cost_usd)
    again = await service.import_file(resources, org_id, path, options=options)
    assert (again.accepted, again.duplicates) == (0, 19_366)


def _ndjson(*records: dict | str) -> bytes:
    return b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in records)


async def test_bulk_file_import_names_the_lines_of_the_file(resources, tmp_path):
    """Local NDJSON files are read by the engine; whatever path a file takes, errors name its
    real lines (blank lines included) and metadata objects and raw prompts are handled."""
    from tokenomist.usage.records import fingerprint

    clean = tmp_path / "clean.ndjson"
    clean.write_bytes(
        _ndjson(
            rec(request_id="m1", metadata={"team": "search", "tags": [1, 2]}),
            rec(request_id="m2"),
            rec(request_id="m3", input_tokens=-4),
        )
    )
    org_id = org()
    report = await service.import_file(resources, org_id, clean)
    assert (report.accepted, [(e.index, e.field) for e in report.errors]) == (
        2, [(3, "input_tokens")],
    )  # fmt: skip
    meta = {r["request_id"]: r["metadata"] for r in await stored(resources, org_id)}
    assert json.loads(meta["m1"]) == {"team": "search", "tags": [1, 2]}

    blank = tmp_path / "blank.ndjson"
    blank.write_bytes(_ndjson(rec(request_id="b1"), "", rec(request_id="b2", model=""),
                              "", rec(request_id="b3")))  # fmt: skip
    report = await service.import_file(resources, org(), blank)
    assert report.accepted == 2
    assert [(e.index, e.field) for e in report.errors] == [(3, "model")]

    typed = tmp_path / "typed.ndjson"
    typed.write_bytes(_ndjson(rec(request_id="t1"), rec(request_id="t2", output_tokens="many")))
    report = await service.import_file(resources, org(), typed)
    assert report.accepted == 1 and [e.index for e in report.errors] == [2]

    prompts = tmp_path / "prompts.ndjson"
    messages = [{"role": "user", "content": "hello"}]
    prompts.write_bytes(_ndjson(rec(request_id="p1", prompt=messages)))
    org_id = org()
    await service.import_file(resources, org_id, prompts)
    row = (
        await resources.org_usage(org_id).query("SELECT request_fingerprint, metadata FROM {usage}")
    )[0]
    assert row["request_fingerprint"] == fingerprint("gpt-4o", messages)
    assert "hello" not in json.dumps(row)  # raw prompts are hashed, never stored


@pytest.mark.parametrize(
    "body",
    [
        b"{}\n{}\n",  # NDJSON read by Arrow: every line lacks everything
        b'[{"timestamp": "2026-10-01T12:00:00Z", "model": "gpt-4o", "input_tokens": 1,'
        b' "output_tokens": 1}]',  # no row names a provider
        b'{"timestamp": "2026-10-01T12:00:00Z", "model": "gpt-4o", "input_tokens": 1,'
        b' "output_tokens": 1}\n',
    ],
)
async def test_a_batch_without_one_valid_row_is_a_report_not_a_500(resources, body):
    """Every row invalid used to fail the whole request (a column of nulls took no type)."""
    report = await service.import_bytes(resources, org(), body, format="canonical")
    assert (report.accepted, report.duplicates) == (0, 0)
    assert report.rejected == len(report.errors) >= 1
    assert {e.field for e in report.errors} <= {"timestamp", "provider"}
    assert report.as_dict()["errors"][0]["message"] == "is required"


STRING_FIELDS_SENT = ("provider", "model", "status", "finish_reason", "service_tier",
                      "request_id", "project", "feature", "end_user", "request_fingerprint",
                      "prefix_fingerprint")  # fmt: skip


@pytest.mark.parametrize("shape", ["array", "ndjson", "csv"])
async def test_a_nul_in_any_string_field_is_that_rows_error_and_the_rest_is_kept(resources, shape):
    """Analytics labels flow into the reports the SQL tier stores, where PostgreSQL cannot hold
    a NUL: such a row is refused with its field named, whichever path reads the input."""
    good = rec(request_id="kept", project="p")
    bad = [
        rec(**{"request_id": f"bad-{name}", name: f"x\x00{name}"}) for name in STRING_FIELDS_SENT
    ]
    if shape == "array":
        body = json.dumps([good, *bad]).encode()
    elif shape == "ndjson":
        body = _ndjson(good, *bad)
    else:
        header = list(good) + [n for n in STRING_FIELDS_SENT if n not in good]
        lines = [",".join(header)] + [
            ",".join(str(r.get(h, "")) for h in header) for r in [good, *bad]
        ]
        body = "\n".join(lines).encode() + b"\n"
    org_id = org()
    report = await service.import_bytes(resources, org_id, body, format="canonical")
    assert (report.accepted, report.rejected) == (1, len(bad))
    assert [e.field for e in report.errors] == list(STRING_FIELDS_SENT)
    assert {e.message for e in report.errors} == {"must not contain a NUL character (U+0000)"}
    assert [r["request_id"] for r in await stored(resources, org_id)] == ["kept"]


async def test_a_metadata_object_holding_a_nul_is_kept_as_escaped_json(resources):
    org_id = org()
    report = await service.ingest_records(
        resources, org_id, [rec(request_id="m", metadata={"note": "a\x00b"})], source="api"
    )
    assert (report.accepted, report.rejected) == (1, 0)
    (row,) = await stored(resources, org_id)
    assert "\x00" not in row["metadata"] and json.loads(row["metadata"]) == {"note": "a\x00b"}


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T23:00:00-05:00",  # converting to UTC overflows datetime
        "0001-01-01T00:00:00+05:00",
        "1969-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
    ],
)
async def test_a_timestamp_outside_1970_to_2200_is_that_rows_error(resources, timestamp):
    records = [rec(request_id="bad", timestamp=timestamp), rec(request_id="ok")]
    for body in (json.dumps(records).encode(), _ndjson(*records)):
        report = await service.import_bytes(resources, org(), body, format="canonical")
        assert (report.accepted, report.rejected) == (1, 1), report.as_dict()
        assert report.errors[0].field == "timestamp"


@pytest.mark.parametrize("content", [b"", b"\n\n   \n"])
async def test_file_import_refuses_an_empty_file_as_empty(resources, tmp_path, content):
    path = tmp_path / "usage.ndjson"
    path.write_bytes(content)
    with pytest.raises(Unprocessable) as info:
        await service.import_file(resources, org(), path)
    assert (info.value.status_code, info.value.code) == (422, "empty_input")
    assert info.value.message.startswith("the file is empty (")


async def test_file_import_counts_skipped_spans(resources):
    report = await service.import_file(resources, org(), FIXTURES / "otlp.json")
    assert (report.format, report.accepted, report.rejected) == ("otlp", 2, 0)
    assert report.as_dict()["skipped"] == {"span_without_genai_usage": 1}

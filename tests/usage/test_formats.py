"""Each input format from a fixture file (and the real Azure trace): detection, mapping to
canonical rows, per-row errors with their line/index, and whole-file refusals."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime

import orjson
import pytest

from tests.support.usage import AZURE_CODE, AZURE_CONV, FIXTURES, require_azure
from tokenomist.kit.errors import Unprocessable
from tokenomist.usage import formats
from tokenomist.usage.formats import ImportOptions, Unparseable, canonical
from tokenomist.usage.pricing import Pricer
from tokenomist.usage.records import price
from tokenomist.usage.validation import validate

PRICER = Pricer()


def load(name: str, options: ImportOptions | None = None):
    data = (FIXTURES / name).read_bytes()
    module = formats.detect(data)
    parsed = module.parse(data, options or ImportOptions())
    valid, errors = validate(parsed.table)
    rows = price(valid, PRICER).to_pylist()
    return module.NAME, parsed, rows, [e.as_dict() for e in parsed.errors + errors]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("canonical.json", "canonical"),
        ("canonical.ndjson", "canonical"),
        ("canonical.csv", "canonical"),
        ("openai_usage.json", "openai-usage"),
        ("litellm.json", "litellm"),
        ("otlp.json", "otlp"),
    ],
)
def test_detects_format(name, fmt):
    assert fmt == formats.detect((FIXTURES / name).read_bytes()).NAME


def test_detects_azure_trace():
    assert formats.detect(b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,2\n")


def test_unrecognised_input_lists_known_formats():
    with pytest.raises(Unprocessable) as info:
        formats.detect(b"hello world\nthis is not usage\n")
    assert info.value.code == "unknown_format"
    assert info.value.details["known_formats"] == [
        "canonical", "openai-usage", "otlp", "litellm", "azure-trace",
    ]  # fmt: skip
    with pytest.raises(Unprocessable) as info:
        formats.get("parquet")
    assert info.value.code == "unknown_format"
    assert "azure-trace" in info.value.message


def test_a_typo_in_the_canonical_csv_header_names_the_column_and_the_fix():
    body = b"timestamp,provider,model,input_tokns,output_tokens\n2026-10-01T00:00:00Z,o,m,1,2\n"
    with pytest.raises(Unprocessable) as info:
        formats.detect(body)
    error = info.value
    assert (error.status_code, error.code) == (422, "unknown_format")
    assert (
        "looks like the canonical CSV but column `input_tokns` is unknown "
        "(did you mean `input_tokens`?)"
    ) in error.message
    assert "pass ?format=canonical" in error.message  # the HTTP wording by default
    assert error.details["closest_format"] == "canonical"
    assert error.details["suggestions"] == {"input_tokns": "input_tokens"}
    assert error.details["missing_columns"] == ["input_tokens"]
    cli = formats.unknown_format_message(error.details, choose="--format ")
    assert "pass --format canonical" in cli and "?format" not in cli


def test_a_near_miss_names_what_no_typo_explains():
    with pytest.raises(Unprocessable) as info:
        formats.detect(b"time,model,tokens\n1,2,3\n")
    assert "column `time` is unknown (did you mean `timestamp`?)" in info.value.message
    assert "it has no `provider`, `input_tokens` columns" in info.value.message


def test_a_near_miss_of_the_azure_trace_header_is_named():
    with pytest.raises(Unprocessable) as info:
        formats.detect(b"TIMESTAMP,ContextTokens,GenTokens\n2023-11-16 18:15:46,1,2\n")
    assert (
        "looks like the Azure trace CSV but column `GenTokens` is unknown "
        "(did you mean `GeneratedTokens`?)"
    ) in info.value.message
    assert info.value.details["closest_format"] == "azure-trace"


def test_input_resembling_no_format_says_so_without_a_guess():
    with pytest.raises(Unprocessable) as info:
        formats.detect(b"name,colour\nfig,green\n")
    assert info.value.details["closest_format"] is None
    assert info.value.message.startswith(
        "could not recognise the input format; pass ?format=<name> with one of: canonical"
    )


@pytest.mark.parametrize("body", [b"", b"\n", b"  \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_input_is_empty_input_not_an_unknown_format(body):
    with pytest.raises(Unprocessable) as info:
        formats.detect(body)
    assert (info.value.status_code, info.value.code) == (422, "empty_input")
    assert info.value.message.startswith("the file is empty (")


def test_a_misspelt_format_name_gets_a_suggestion():
    with pytest.raises(Unprocessable) as info:
        formats.get("litelm")
    assert info.value.code == "unknown_format"
    assert "unknown format 'litelm' (did you mean 'litellm'?)" in info.value.message


def test_csv_row_with_more_values_than_columns_names_the_first_extra_one():
    body = (
        b"timestamp,provider,model,input_tokens\n"
        b"2026-10-01T00:00:00Z,openai,gpt-4o,10\n"
        b"2026-10-01T00:00:01Z,openai,gpt-4o,10,9,x\n"
    )
    parsed = canonical.parse(body)
    assert [e.as_dict() for e in parsed.errors] == [
        {"index": 3, "field": "(extra value 5)",
         "message": "6 values but the header names 4 columns; extra: '9', 'x'"},
    ]  # fmt: skip
    assert parsed.table.column("_row").to_pylist() == [2]


def test_openai_usage_results_without_requests_are_counted_as_skipped():
    page = {"object": "page", "data": [{
        "object": "bucket", "start_time": 1759276800, "end_time": 1759363200,
        "results": [
            {"object": "organization.usage.completions.result", "model": "gpt-4o",
             "num_model_requests": 0, "input_tokens": 0, "output_tokens": 0},
            {"object": "organization.usage.completions.result", "model": "gpt-4o",
             "num_model_requests": 2, "input_tokens": 10, "output_tokens": 4},
        ],
    }]}  # fmt: skip
    parsed = formats.openai_usage.parse(orjson.dumps(page))
    assert (parsed.table.num_rows, parsed.errors) == (2, [])
    assert parsed.skipped == {"result_without_requests": 1}


def test_every_registered_format_keeps_the_contract():
    names = [r.format.NAME for r in formats.FORMATS]
    assert len(set(names)) == len(names)
    for fmt in (r.format for r in formats.FORMATS):
        assert fmt.NAME.strip().lower() == fmt.NAME, fmt
        assert fmt.DESCRIPTION and "\n" not in fmt.DESCRIPTION, fmt.NAME
        assert formats.get(fmt.NAME) is fmt
        assert fmt.sniff(b"") is False, fmt.NAME  # nothing to go on: no claim
    assert list(formats.known()) == names


def test_an_input_with_two_formats_markers_goes_to_the_unmistakable_one():
    # Both the OTLP and the OpenAI-usage sniffs match; OTLP's marker decides.
    data = b'{"resourceSpans": [], "note": "organization.usage.completions.result"}'
    assert formats.detect(data).NAME == "otlp"
    assert formats.openai_usage.sniff(data)


def test_canonical_json_array():
    fmt, parsed, rows, errors = load("canonical.json")
    assert (fmt, parsed.total, errors) == ("canonical", 4, [])
    first, second, third, fourth = rows
    assert first["cached_input_tokens"] == 1024 and first["interactive"] is True
    assert first["metadata"] == '{"region":"eu"}'
    # offsets are converted to UTC
    assert second["timestamp"] == datetime(2026, 10, 1, 7, 5, tzinfo=UTC)
    assert second["reported_cost_usd"] == 0.0195  # the provider's figure, kept beside ours
    assert second["cost_usd"] == pytest.approx(
        PRICER.cost(
            "anthropic", "claude-sonnet-4-5", input_tokens=5000, cached_input_tokens=3000,
            cache_write_tokens=1000, output_tokens=800,
        )
    )  # fmt: skip
    assert third["service_tier"] == "batch" and third["interactive"] is False
    assert fourth["cost_usd"] is None and fourth["price_source"].startswith("unpriced")


def test_canonical_ndjson_takes_the_arrow_path_and_prices_long_context():
    _fmt, parsed, rows, errors = load("canonical.ndjson")
    assert (parsed.total, errors) == (3, [])
    assert [r["_row"] for r in rows] == [1, 2, 3]
    assert rows[1]["cost_usd"] == pytest.approx(250_000 * 2.5 / 1e6 + 1000 * 15 / 1e6)
    assert rows[2]["status"] == "error" and rows[2]["cost_usd"] == pytest.approx(0.0075)


def test_canonical_csv_empty_cells_are_missing_values():
    _fmt, parsed, rows, errors = load("canonical.csv")
    assert (parsed.total, errors) == (3, [])
    assert [r["_row"] for r in rows] == [2, 3, 4]  # CSV line numbers (header is line 1)
    assert rows[0]["service_tier"] == "standard" and rows[1]["service_tier"] == "batch"
    assert rows[1]["end_user"] is None and rows[2]["interactive"] is None
    assert rows[1]["cost_usd"] == pytest.approx(
        PRICER.cost("openai", "gpt-4.1", input_tokens=4000, output_tokens=500,
                    service_tier="batch", when=datetime(2026, 10, 3, 12, tzinfo=UTC))
    )  # fmt: skip


def test_bad_rows_get_line_field_reason_and_good_rows_stay():
    _fmt, _parsed, rows, errors = load("bad.ndjson")
    assert [r["request_id"] for r in rows] == ["ok-1", "ok-2"]
    by_line = {e["index"]: (e["field"], e["message"]) for e in errors}
    assert by_line == {
        2: ("input_tokens", "must not be negative"),
        3: ("timestamp", "is in the future (more than a day ahead of the server clock)"),
        4: ("", by_line[4][1]),
        5: ("input_tokens", "is not a plausible token count for one call (> 10,000,000)"),
        6: ("model", "is required"),
        7: ("cached_input_tokens",
            "cached + cache-write tokens exceed input_tokens (input_tokens includes them)"),
        8: ("service_tier", "must be one of standard, batch, flex, priority"),
        10: ("", "not valid UTF-8 (byte 131)"),
    }  # fmt: skip
    assert by_line[4][1].startswith("not valid JSON")


def test_a_prefix_longer_than_the_prompt_is_rejected():
    # The cacheable prefix is part of the prompt: more prefix than input tokens would let the
    # prompt-caching strategy save on tokens that were never sent.
    base = {"timestamp": "2026-10-01T12:00:00Z", "provider": "openai", "model": "gpt-4o",
            "output_tokens": 10, "prefix_fingerprint": "p"}  # fmt: skip
    parsed = canonical.parse(
        b"[" + b",".join(
            orjson.dumps({**base, "input_tokens": n, "prefix_tokens": k})
            for n, k in ((2000, 1500), (1000, 5000), (1024, 1024))
        ) + b"]"
    )  # fmt: skip
    valid, errors = validate(parsed.table)
    assert valid.column("prefix_tokens").to_pylist() == [1500, 1024]
    assert [e.as_dict() for e in errors] == [
        {"index": 1, "field": "prefix_tokens",
         "message": "exceed input_tokens (the prefix is part of the prompt)"},
    ]  # fmt: skip


def test_csv_row_path_reports_bad_cells_by_line():
    body = (
        b"timestamp,provider,model,input_tokens,output_tokens\n"
        b"2026-10-01T00:00:00Z,openai,gpt-4o,10,1\n"
        b"2026-10-01T00:00:00Z,openai,gpt-4o,ten,1\n"
        b'"2026-10-01T00:00:01Z",openai,gpt-4o,10,1\n'
        b"2026-10-01T00:00:02Z,openai,gpt-4o,10,1,extra\n"
        b"2026-10-01T00:00:03Z,openai,\xff\xfe,10,1\n"
    )
    parsed = canonical.parse(body)
    valid, errors = validate(parsed.table)
    assert valid.column("_row").to_pylist() == [2, 4]
    assert [(e.index, e.field) for e in parsed.errors + errors] == [
        (3, "input_tokens"), (5, "(extra value 6)"), (6, ""),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'[{"timestamp": ', "not valid JSON"),
        (b'{"a": 1', "no line is a JSON record"),
        (b"", "the input is empty"),
        (b"time,provider\n1,2\n", "lacks the canonical column(s) timestamp, model"),
        (b"[1, 2", "not valid JSON"),
    ],
)
def test_unreadable_canonical_input_is_refused_whole(body, reason):
    with pytest.raises(Unparseable) as info:
        canonical.parse(body)
    assert reason in str(info.value)


def test_openai_usage_export_expands_buckets_exactly():
    _fmt, _parsed, rows, errors = load("openai_usage.json")
    assert errors == [{"index": 3, "field": "input_tokens", "message": "must not be negative"}]
    gpt4o = [r for r in rows if r["model"] == "gpt-4o-2024-08-06"]
    assert len(gpt4o) == 8  # 7 calls + 1 call
    first_bucket = [r for r in gpt4o if not r["end_user"]]
    assert sum(r["input_tokens"] for r in first_bucket) == 100_000
    assert sum(r["cached_input_tokens"] for r in first_bucket) == 40_000
    assert sum(r["output_tokens"] for r in first_bucket) == 20_000
    assert {r["project"] for r in first_bucket} == {"proj_support"}
    batch = [r for r in rows if r["model"] == "gpt-4o-mini-2024-07-18"]
    assert len(batch) == 3 and {r["service_tier"] for r in batch} == {"batch"}
    assert all('"openai_usage_bucket"' in r["metadata"] for r in rows)
    # per-call split keeps the bucket's cost exact
    assert sum(r["cost_usd"] for r in first_bucket) == pytest.approx(
        PRICER.cost("openai", "gpt-4o-2024-08-06", input_tokens=100_000,
                    cached_input_tokens=40_000, output_tokens=20_000)
    )  # fmt: skip


def test_litellm_spend_logs():
    _fmt, _parsed, rows, errors = load("litellm.json")
    assert errors == [
        {"index": 2, "field": "cache_hit",
         "message": "served from the LiteLLM cache: no provider call to price"},
    ]  # fmt: skip
    a, b, c = rows
    assert (a["provider"], a["model"], a["cached_input_tokens"]) == ("openai", "gpt-4o", 1024)
    assert (a["project"], a["feature"], a["end_user"]) == ("search-team", "query-rewrite",
                                                           "customer-42")  # fmt: skip
    assert a["latency_ms"] == 1500.0 and a["reported_cost_usd"] == 0.00425
    assert a["request_id"] == "litellm:chatcmpl-111"
    # Anthropic-style usage (cache tokens reported apart) is folded into input_tokens
    assert (b["provider"], b["model"]) == ("anthropic", "claude-sonnet-4-5")
    tokens = (b["input_tokens"], b["cached_input_tokens"], b["cache_write_tokens"])
    assert tokens == (3500, 2000, 1000)
    assert b["feature"] == "drafts"
    assert c["status"] == "error" and c["cost_usd"] == pytest.approx(700 * 2.5 / 1e6)


def test_otlp_json_genai_spans():
    _fmt, parsed, rows, errors = load("otlp.json")
    assert (parsed.total, errors) == (2, [])  # the HTTP span is not usage
    assert parsed.skipped == {"span_without_genai_usage": 1}
    a, b = rows
    assert a["request_id"] == "otel:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"
    assert (a["provider"], a["model"], a["project"], a["feature"], a["end_user"]) == (
        "openai", "gpt-4o-2024-08-06", "checkout-bot", "cart-help", "shopper-9",
    )  # fmt: skip
    assert (a["input_tokens"], a["cached_input_tokens"], a["output_tokens"]) == (2048, 1024, 256)
    assert (a["max_tokens"], a["finish_reason"], a["latency_ms"]) == (1024, "length", 1250.0)
    assert a["timestamp"] == datetime(2026, 10, 1, 9, 20, tzinfo=UTC)
    assert (b["provider"], b["status"]) == ("anthropic", "error")
    tokens = (b["input_tokens"], b["cached_input_tokens"], b["cache_write_tokens"])
    assert tokens == (3700, 3000, 200)


def test_azure_trace_needs_provider_and_model():
    with pytest.raises(Unprocessable) as info:
        formats.get("azure-trace").parse(b"TIMESTAMP,ContextTokens,GeneratedTokens\n", None)
    assert info.value.code == "missing_import_option"
    assert info.value.details == {"missing": ["provider", "model"]}


def test_azure_trace_bad_rows():
    body = (
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n"
        b"2023-11-16 18:15:46.6805900,374,44\n"
        b"2023-13-16 18:15:46.1,3,4\n"
        b"2023-11-16 18:15:47.0000000,-5,44\n"
        b"2023-11-16 18:15:48,abc,1\n"
    )
    parsed = formats.get("azure-trace").parse(body, ImportOptions("openai", "gpt-4o", "conv"))
    valid, errors = validate(parsed.table)
    assert valid.column("_row").to_pylist() == [2]
    assert [(e.index, e.field) for e in parsed.errors + errors] == [
        (3, "timestamp"), (5, "input_tokens"), (4, "input_tokens"),
    ]  # fmt: skip
    row = valid.to_pylist()[0]
    assert row["timestamp"] == datetime(2023, 11, 16, 18, 15, 46, 680000, tzinfo=UTC)
    assert row["request_id"] == "azure-trace:conv:2023-11-16 18:15:46.6805900:374:44"


@pytest.mark.parametrize("path", [AZURE_CONV, AZURE_CODE], ids=["conv", "code"])
def test_real_azure_trace_every_row(path):
    data = require_azure(path).read_bytes()
    with path.open(newline="") as fh:
        expected = list(csv.DictReader(fh))
    # The files hold 19,366 and 8,819 rows; their README says one fewer each because the last
    # line has no trailing newline (wc -l minus the header).
    assert len(expected) in (19_366, 8_819)
    module = formats.detect(data)
    parsed = module.parse(data, ImportOptions("openai", "gpt-4o", path.stem))
    valid, errors = validate(parsed.table)
    rows = price(valid, PRICER)
    assert errors == [] and parsed.errors == []
    assert rows.num_rows == len(expected)
    assert sum(rows.column("input_tokens").to_pylist()) == sum(
        int(r["ContextTokens"]) for r in expected
    )
    assert sum(rows.column("output_tokens").to_pylist()) == sum(
        int(r["GeneratedTokens"]) for r in expected
    )
    spend = sum(
        int(r["ContextTokens"]) * 2.5 / 1e6 + int(r["GeneratedTokens"]) * 10 / 1e6 for r in expected
    )
    assert sum(rows.column("cost_usd").to_pylist()) == pytest.approx(spend)
    assert len(set(rows.column("request_id").to_pylist())) == len(expected)


def _otlp_json(spans: list[tuple[object, object]]) -> bytes:
    def span(i: int, start: object, status: object) -> dict:
        return {
            "traceId": "ab", "spanId": f"s{i}", "name": "chat",
            "startTimeUnixNano": start, "endTimeUnixNano": start, "status": {"code": status},
            "attributes": [
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}},
            ],
        }  # fmt: skip

    spans_json = [span(i, start, status) for i, (start, status) in enumerate(spans)]
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans_json}]}]})


def test_otlp_span_with_an_unusable_time_or_status_is_that_spans_error():
    good = "1793500000000000000"  # 2026-11-01
    parsed = formats.get("otlp").parse(
        _otlp_json([(good, 0), ("1" + "0" * 30, 0), ("soon", 0), (good, "STATUS_CODE_ERROR")]),
        ImportOptions(),
    )
    valid, errors = validate(parsed.table)
    assert valid.column("status").to_pylist() == ["success", "error"]
    assert [(e.index, e.field) for e in parsed.errors + errors] == [
        (1, "timestamp"), (2, "timestamp"),
    ]  # fmt: skip
    assert "out of range" in parsed.errors[0].message
    assert "not an integer" in parsed.errors[1].message


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(10**15, None, "start_time"), (-(10**12), None, "start_time"),
     (1793500000, 10**15, "end_time"),
     # the last second datetime holds: spreading the bucket over a day used to overflow
     (253402300799, None, "start_time"), (-1, None, "start_time")],
)  # fmt: skip
def test_openai_usage_bucket_with_an_impossible_time_is_a_row_error(start, end, field):
    result = {"object": "organization.usage.completions.result", "model": "gpt-4o",
              "input_tokens": 10, "output_tokens": 1, "num_model_requests": 1}  # fmt: skip
    body = {"object": "page", "data": [
        {"object": "bucket", "start_time": start, "end_time": end, "results": [result]},
        {"object": "bucket", "start_time": 1793500000, "end_time": None, "results": [result]},
    ]}  # fmt: skip
    parsed = formats.get("openai-usage").parse(orjson.dumps(body), ImportOptions())
    assert parsed.table.num_rows == 1
    bad = start if field == "start_time" else end
    assert [(e.field, e.message) for e in parsed.errors] == [
        (field, f"is not a Unix time between 1970-01-01 and 2200-12-31 (UTC), got {bad!r}"),
    ]


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"resourceSpans": [5]}, "resourceSpans[0]"),
        ({"resourceSpans": [{"scopeSpans": [5]}]}, "resourceSpans[0].scopeSpans[0]"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{}, "x"]}]}]},
         "resourceSpans[0].scopeSpans[0].spans[1]"),
        ({"resourceSpans": [{"scopeSpans": {"spans": []}}]}, "resourceSpans[0].scopeSpans"),
    ],
)  # fmt: skip
def test_otlp_json_of_the_wrong_shape_is_refused_with_where(doc, where):
    with pytest.raises(Unparseable, match=rf"^{re.escape(where)} must be "):
        formats.get("otlp").parse(orjson.dumps(doc), ImportOptions())


def test_a_nul_in_an_otlp_or_litellm_label_is_that_rows_error_like_canonical():
    """Every format meets the same column rule: a NUL in a stored string refuses the row."""
    good = "1793500000000000000"
    doc = orjson.loads(_otlp_json([(good, 0), (good, 0)]))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["attributes"][1]["value"]["stringValue"] = "gpt-4o\x00"
    parsed = formats.get("otlp").parse(orjson.dumps(doc), ImportOptions())
    valid, errors = validate(parsed.table)
    assert valid.num_rows == 1
    assert [(e.field, e.message) for e in errors] == [
        ("model", "must not contain a NUL character (U+0000)")
    ]
    raw = (FIXTURES / "litellm.json").read_bytes()
    before = formats.get("litellm").parse(raw, ImportOptions())
    kept_before, errors_before = validate(before.table)
    logs = orjson.loads(raw)
    first = logs[0] if isinstance(logs, list) else logs["data"][0]
    first["model"] = "gpt\x00"
    parsed = formats.get("litellm").parse(orjson.dumps(logs), ImportOptions())
    valid, errors = validate(parsed.table)
    new = [e for e in parsed.errors + errors if e not in before.errors + errors_before]
    assert [(e.field, e.message) for e in new] == [
        ("model", "must not contain a NUL character (U+0000)")
    ]
    assert valid.num_rows == kept_before.num_rows - 1

"""The Azure LLM inference trace CSV (``TIMESTAMP,ContextTokens,GeneratedTokens``).

The trace names no provider, model or project: the user gives them (``provider``, ``model``
required; ``project`` optional). Read column-wise by Arrow. Each row's id is built from the
project, the full-precision timestamp and the token counts, so re-importing a file adds nothing.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tokenomist.kit.errors import Unprocessable
from tokenomist.usage.formats.base import CsvHeader, ImportOptions, Unparseable, strip_bom
from tokenomist.usage.records import Parsed, RowError, conform

NAME = "azure-trace"
DESCRIPTION = (
    "Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens); "
    "needs provider and model (and optionally project)"
)
HEADER = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]
CSV_HEADER = CsvHeader(
    label="the Azure trace CSV", required=tuple(HEADER), known=frozenset(HEADER), closed=True
)


def sniff(head: bytes) -> bool:
    first = strip_bom(head).split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    return [h.strip() for h in first.split(",")] == HEADER


def parse(data: bytes, options: ImportOptions | None = None) -> Parsed:
    options = options or ImportOptions()
    missing = [name for name in ("provider", "model") if not getattr(options, name)]
    if missing:
        raise Unprocessable(
            f"the azure-trace format carries no {' or '.join(missing)}; "
            f"pass {', '.join(missing)} (and optionally project)",
            code="missing_import_option",
            details={"missing": missing},
        )
    table = _read(strip_bom(data))
    n = table.num_rows
    lines = pa.array(range(2, n + 2), pa.int64())
    raw_ts = pc.utf8_trim_whitespace(table.column("TIMESTAMP"))
    ctx = _ints(table.column("ContextTokens"))
    gen = _ints(table.column("GeneratedTokens"))
    # The trace has 100 ns precision; Arrow parses at most microseconds.
    ts = _timestamps(pc.utf8_slice_codeunits(raw_ts, 0, 26))
    bad, errors = _unreadable(ts, ctx, gen)

    project = options.project or ""
    request_id = pc.binary_join_element_wise(
        pa.array([f"azure-trace:{project}"] * n, pa.string()),
        raw_ts,
        pc.cast(ctx, pa.string()),
        pc.cast(gen, pa.string()),
        ":",
    )
    out = pa.table(
        {
            "_row": lines,
            "timestamp": ts,
            "provider": pa.array([options.provider] * n, pa.string()),
            "model": pa.array([options.model] * n, pa.string()),
            "input_tokens": ctx,
            "output_tokens": gen,
            "project": pa.array([project] * n, pa.string()),
            "request_id": request_id,
            "status": pa.array(["success"] * n, pa.string()),
            "metadata": pa.array(['{"source": "azure-llm-inference-trace"}'] * n, pa.string()),
        }
    ).filter(pc.invert(bad))
    errors.sort(key=lambda e: e.index)
    return Parsed(conform(out), errors, n)


def _read(body: bytes) -> pa.Table:
    """The trace as a table, the columns this format parses from text read as text."""
    if not sniff(body):
        raise Unparseable(f"expected the header {','.join(HEADER)}")
    try:
        return pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                column_types={
                    "TIMESTAMP": pa.string(),
                    "ContextTokens": pa.string(),
                    "GeneratedTokens": pa.string(),
                },
            ),
        )
    except pa.ArrowInvalid as exc:
        raise Unparseable(f"not a readable CSV: {exc}") from None


def _unreadable(ts: Any, ctx: Any, gen: Any) -> tuple[Any, list[RowError]]:
    """Rows whose time or token counts did not parse, and one error per such row (its first)."""
    n = len(ts)
    errors: list[RowError] = []
    bad = pa.array([False] * n)
    for mask, field, message in (
        (pc.is_null(ts), "timestamp", "TIMESTAMP is not a 'YYYY-MM-DD HH:MM:SS[.fffffff]' time"),
        (pc.is_null(ctx), "input_tokens", "ContextTokens is not an integer"),
        (pc.is_null(gen), "output_tokens", "GeneratedTokens is not an integer"),
    ):
        new = pc.and_kleene(mask, pc.invert(bad))
        for i in pc.indices_nonzero(new).to_pylist():
            errors.append(RowError(i + 2, field, message))
        bad = pc.or_kleene(bad, mask)
    return bad, errors


def _ints(col: pa.ChunkedArray) -> pa.ChunkedArray:
    trimmed = pc.utf8_trim_whitespace(col)
    ok = pc.match_substring_regex(trimmed, r"^-?[0-9]{1,18}$")
    return pc.cast(pc.if_else(ok, trimmed, None), pa.int64())


def _timestamps(col: pa.ChunkedArray) -> pa.ChunkedArray:
    ok = pc.match_substring_regex(col, r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
    text = pc.replace_substring(pc.if_else(ok, col, None), " ", "T")
    seconds = pc.strptime(
        pc.utf8_slice_codeunits(text, 0, 19), format="%Y-%m-%dT%H:%M:%S", unit="us",
        error_is_null=True,
    )  # fmt: skip
    micros = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(text, 20, 26), 6, "0"), pa.int64())
    parsed = pc.add(seconds, pc.cast(micros, pa.duration("us")))
    return pc.cast(pc.assume_timezone(parsed, "UTC"), pa.timestamp("ms", tz="UTC"), safe=False)

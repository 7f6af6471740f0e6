"""Canonical records (DESIGN §4) as a JSON array, NDJSON, or CSV with the canonical column names.

Clean NDJSON and CSV files are read by Arrow, column-wise; a file Arrow refuses (a mistyped
value, a line that is not JSON, bytes that are not UTF-8, per-row metadata objects, raw
prompts) is read again line by line so each bad row gets its own error and the rest is kept.
Errors carry the 1-based line number (NDJSON, CSV) or the 0-based array index (JSON array).
"""

from __future__ import annotations

import csv
import io
from typing import cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from tokenomist.usage.formats.base import (
    CsvHeader,
    ImportOptions,
    Unparseable,
    first_char,
    strip_bom,
)
from tokenomist.usage.records import (
    RAW_SCHEMA,
    STRING_FIELDS,
    Parsed,
    RowError,
    coerce_record,
    conform,
    records_to_parsed,
    rows_to_table,
)

NAME = "canonical"
DESCRIPTION = "canonical usage records: JSON array, NDJSON, or CSV with the canonical columns"

# Input field → RAW_SCHEMA column (the provider-reported cost is kept apart from ours).
_RENAMES = {"cost_usd": "reported_cost_usd"}
_ARROW_FIELDS = [
    pa.field("cost_usd" if f.name == "reported_cost_usd" else f.name, f.type)
    for f in RAW_SCHEMA
    if f.name not in ("_row", "metadata")
]
_CSV_MARKERS = ("timestamp", "provider", "model", "input_tokens")
CSV_HEADER = CsvHeader(
    label="the canonical CSV",
    required=_CSV_MARKERS,
    known=frozenset(f.name for f in _ARROW_FIELDS) | {"metadata", "prompt", "prompt_prefix"},
)


def sniff(head: bytes) -> bool:
    c = first_char(head)
    if c in (b"[", b"{"):
        return True
    first_line = strip_bom(head).split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    return {h.strip().strip('"') for h in first_line.split(",")} >= set(_CSV_MARKERS)


def parse(data: bytes, options: ImportOptions | None = None) -> Parsed:
    body = strip_bom(data)
    c = first_char(body)
    if c == b"[":
        return _parse_array(body)
    if c == b"{":
        return _parse_ndjson(body)
    if not body.strip():
        raise Unparseable("the input is empty")
    return _parse_csv(body)


def _parse_array(body: bytes) -> Parsed:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise Unparseable("expected a JSON array of records")
    return records_to_parsed(items)


def _line_count(body: bytes) -> int:
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)


def _parse_ndjson(body: bytes) -> Parsed:
    fast = _ndjson_fast(body)
    if fast is not None:
        return fast
    return parse_ndjson_lines(body)


def _ndjson_fast(body: bytes) -> Parsed | None:
    # Arrow numbers rows, not lines: only take this path when the two agree (no blank lines),
    # and leave metadata objects and raw prompts to the line reader.
    if b"\n\n" in body or b"\r" in body or b'"metadata"' in body or b'"prompt' in body:
        return None
    schema = pa.schema(_ARROW_FIELDS)
    try:
        table = pajson.read_json(
            io.BytesIO(body),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != _line_count(body.rstrip(b"\n") + b"\n"):
        return None
    return _finish(table)


def _finish(table: pa.Table) -> Parsed:
    table = table.rename_columns([_RENAMES.get(n, n) for n in table.column_names])
    n = table.num_rows
    table = table.append_column("_row", pa.array(range(1, n + 1), pa.int64()))
    # The fast path reads interactive etc. as typed columns already; cast the rest.
    return Parsed(conform(table), [], n)


def parse_ndjson_lines(body: bytes, *, coerce=None) -> Parsed:
    """NDJSON line by line: every line is its own record (blank lines are skipped)."""
    coerce = coerce or coerce_record
    rows, errors, total, readable = [], [], 0, 0
    for lineno, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        total += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(RowError(lineno, "", f"not valid UTF-8 (byte {exc.start})"))
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            errors.append(RowError(lineno, "", f"not valid JSON: {exc}"))
            continue
        readable += 1
        try:
            row = coerce(obj)
        except ValueError as exc:
            errors.append(RowError(lineno, getattr(exc, "field", ""), str(exc)))
            continue
        row["_row"] = lineno
        rows.append(row)
    if total and not readable:
        raise Unparseable(f"no line is a JSON record (line {errors[0].index}: {errors[0].message})")
    return Parsed(rows_to_table(rows), errors, total)


def _parse_csv(body: bytes) -> Parsed:
    header = body.split(b"\n", 1)[0].decode("utf-8", "replace")
    columns = [h.strip().strip('"') for h in header.split(",")]
    missing = [c for c in ("timestamp", "provider", "model") if c not in columns]
    if missing:
        raise Unparseable(f"CSV header lacks the canonical column(s) {', '.join(missing)}")
    fast = _csv_fast(body, columns)
    if fast is not None:
        return fast
    return _csv_rows(body)


def _csv_fast(body: bytes, columns: list[str]) -> Parsed | None:
    if b"\r" in body or b'"' in body:  # quoted fields may span lines: line numbers would drift
        return None
    types = {f.name: f.type for f in _ARROW_FIELDS if f.name in columns}
    for name in STRING_FIELDS:  # read as text even when a column looks numeric
        if name in types:
            types[name] = pa.string()
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=[c for c in columns if c in types],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    data_lines = body.rstrip(b"\n").count(b"\n")
    if table.num_rows != data_lines or b"\n\n" in body.rstrip(b"\n"):
        return None
    table = table.rename_columns([_RENAMES.get(n, n) for n in table.column_names])
    n = table.num_rows
    table = table.append_column("_row", pa.array(range(2, n + 2), pa.int64()))
    # Empty CSV cells mean "not given".
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) and name not in ("provider", "model"):
            table = table.set_column(
                table.column_names.index(name), name, pc.if_else(pc.equal(col, ""), None, col)
            )
    return Parsed(conform(table), [], n)


def _csv_rows(body: bytes) -> Parsed:
    text = body.decode("utf-8", "surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records, lines, errors, total = [], [], [], 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            total += 1
            errors.append(RowError(reader.line_num, "", f"not valid CSV: {exc}"))
            continue
        total += 1
        line = reader.line_num
        values = list(row.values()) + list(row.keys())
        if any(isinstance(v, str) and _has_surrogates(v) for v in values):
            errors.append(RowError(line, "", "not valid UTF-8"))
            continue
        if None in row:
            extra = cast("list[str]", row[None])  # DictReader puts the extra values there
            errors.append(_extra_values(line, len(reader.fieldnames or ()), extra))
            continue
        records.append({k: (v if v != "" else None) for k, v in row.items()})
        lines.append(line)
    parsed = records_to_parsed(records)
    # records_to_parsed numbers records 0..n-1; map back to CSV line numbers.
    line_of = pa.array(lines, pa.int64())
    table = parsed.table.set_column(0, "_row", pc.take(line_of, parsed.table.column("_row")))
    for e in parsed.errors:
        e.index = lines[e.index]
    return Parsed(table, sorted(errors + parsed.errors, key=lambda e: e.index), total)


def _extra_values(line: int, columns: int, extra: list[str]) -> RowError:
    """A row with more values than the header has columns, the first extra one named by its
    1-based position in the row (it has no column name)."""
    shown = ", ".join(repr(v) for v in extra[:3]) + (", ..." if len(extra) > 3 else "")
    return RowError(
        line,
        f"(extra value {columns + 1})",
        f"{columns + len(extra)} values but the header names {columns} columns; extra: {shown}",
    )


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False

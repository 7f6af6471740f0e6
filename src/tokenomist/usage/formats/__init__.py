"""Input formats: one module each (the ``Format`` contract in ``base``), registered in
``FORMATS`` below, and detection from the first bytes.

Adding a format: a new module here with ``NAME``, ``DESCRIPTION``, ``sniff`` and ``parse``, and
one line in ``FORMATS`` (with its ``CsvHeader`` for a CSV format, so a near miss is explained).

Refusals: an empty input is ``empty_input``; an input no format claims is ``unknown_format``,
naming the closest CSV format and the columns that kept it from matching. That message tells
an HTTP caller ``?format=<name>``; ``unknown_format_message`` words it for another caller (the
CLI's ``--format <name>``) from the error's details.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from tokenomist.kit.errors import Unprocessable
from tokenomist.usage.formats import azure_trace, canonical, litellm, near_miss, openai_usage, otlp
from tokenomist.usage.formats.base import (
    CsvHeader,
    Format,
    ImportOptions,
    Unparseable,
    first_char,
    strip_bom,
)

__all__ = [
    "FORMATS",
    "Format",
    "ImportOptions",
    "Unparseable",
    "detect",
    "first_char",
    "get",
    "is_auto",
    "is_empty",
    "known",
    "require_content",
    "resolve",
    "strip_bom",
    "unknown_format_message",
]


@dataclass(frozen=True)
class Registered:
    format: Format
    # When an unlabelled input is offered to it: "first" when its markers are unmistakable,
    # "last" for a catch-all that would claim other formats' inputs, else in list order.
    sniffed: Literal["first", "in_order", "last"] = "in_order"
    header: CsvHeader | None = None  # a CSV format's header, to explain a near miss


# One line per format, in the order they are listed (GET /api/v1/usage/formats, errors).
FORMATS: tuple[Registered, ...] = (
    # any JSON document, or a CSV with its columns
    Registered(canonical, sniffed="last", header=canonical.CSV_HEADER),
    Registered(openai_usage),
    Registered(otlp, sniffed="first"),  # "resourceSpans" belongs to OTLP alone
    Registered(litellm),
    Registered(azure_trace, header=azure_trace.CSV_HEADER),
)
_BY_NAME: dict[str, Format] = {r.format.NAME: r.format for r in FORMATS}
_RANK = {"first": 0, "in_order": 1, "last": 2}
_SNIFF_ORDER: tuple[Format, ...] = tuple(
    r.format for r in sorted(FORMATS, key=lambda r: _RANK[r.sniffed])
)


def known() -> dict[str, str]:
    """Format name → one-line description."""
    return {name: f.DESCRIPTION for name, f in _BY_NAME.items()}


def get(name: str) -> Format:
    key = name.strip().lower()
    if key not in _BY_NAME:
        close = difflib.get_close_matches(key, list(_BY_NAME), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise Unprocessable(
            f"unknown format {name!r}{guess}; known formats: {', '.join(_BY_NAME)}",
            code="unknown_format",
            details={"known_formats": list(_BY_NAME)},
        )
    return _BY_NAME[key]


def is_empty(data: bytes) -> bool:
    """Nothing but whitespace (and a byte-order mark), or no bytes at all."""
    if strip_bom(data[:4096]).strip():
        return False
    return not strip_bom(data).strip()


def require_content(data: bytes, what: str = "file") -> None:
    """Refuse an empty input: there is nothing to detect a format from, nor to import. A CSV
    with its header and no rows is not empty: it imports zero rows (an export of a quiet
    period is not a mistake)."""
    if not is_empty(data):
        return
    held = "0 bytes" if not data else "only whitespace"
    raise Unprocessable(f"the {what} is empty ({held}): nothing to import", code="empty_input")


def detect(data: bytes) -> Format:
    """The format of this input, from its first bytes; 422 when it is empty or none
    recognises it."""
    require_content(data)
    head = data[:65536]
    for fmt in _SNIFF_ORDER:
        if fmt.sniff(head):
            return fmt
    headers = [(r.format.NAME, r.header) for r in FORMATS if r.header is not None]
    miss = near_miss.closest(head, headers)
    details: dict[str, Any] = {
        "known_formats": list(_BY_NAME),
        "closest_format": miss.format if miss else None,
        "reason": miss.reason if miss else None,
        "unknown_columns": miss.unknown_columns if miss else [],
        "missing_columns": miss.missing_columns if miss else [],
        "suggestions": miss.suggestions if miss else {},
    }
    raise Unprocessable(unknown_format_message(details), code="unknown_format", details=details)


def unknown_format_message(details: dict[str, Any], choose: str = "?format=") -> str:
    """The ``unknown_format`` message of ``detect`` from its details, telling the caller to
    choose a format the way it can: ``?format=`` over HTTP, ``--format `` on the CLI."""
    known = ", ".join(details.get("known_formats") or _BY_NAME)
    closest, reason = details.get("closest_format"), details.get("reason")
    if not (closest and reason):
        return f"could not recognise the input format; pass {choose}<name> with one of: {known}"
    return (
        f"could not recognise the input format: it {reason}; fix the header, or pass "
        f"{choose}{closest} to read it as {closest} (known formats: {known})"
    )


def resolve(name: str | None, data: bytes) -> Format:
    if name is None or is_auto(name):
        return detect(data)
    return get(name)


def is_auto(name: str | None) -> bool:
    """Whether a ``format`` value asks for detection (none given, empty, or ``auto``)."""
    return name is None or name.strip().lower() in ("", "auto")

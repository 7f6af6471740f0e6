"""Input formats: one module each (the ``Format`` contract in ``base``), registered in
``FORMATS`` below, and detection from the first bytes.

Adding a format: a new module here with ``NAME``, ``DESCRIPTION``, ``sniff`` and ``parse``, and
one line in ``FORMATS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokenomist.kit.errors import Unprocessable
from tokenomist.usage.formats import azure_trace, canonical, litellm, openai_usage, otlp
from tokenomist.usage.formats.base import Format, ImportOptions, Unparseable, first_char, strip_bom

__all__ = [
    "FORMATS",
    "Format",
    "ImportOptions",
    "Unparseable",
    "detect",
    "first_char",
    "get",
    "known",
    "resolve",
    "strip_bom",
]


@dataclass(frozen=True)
class Registered:
    format: Format
    # When an unlabelled input is offered to it: "first" when its markers are unmistakable,
    # "last" for a catch-all that would claim other formats' inputs, else in list order.
    sniffed: Literal["first", "in_order", "last"] = "in_order"


# One line per format, in the order they are listed (GET /api/v1/usage/formats, errors).
FORMATS: tuple[Registered, ...] = (
    Registered(canonical, sniffed="last"),  # any JSON document, or a CSV with its columns
    Registered(openai_usage),
    Registered(otlp, sniffed="first"),  # "resourceSpans" belongs to OTLP alone
    Registered(litellm),
    Registered(azure_trace),
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
        raise Unprocessable(
            f"unknown format {name!r}; known formats: {', '.join(_BY_NAME)}",
            code="unknown_format",
            details={"known_formats": list(_BY_NAME)},
        )
    return _BY_NAME[key]


def detect(data: bytes) -> Format:
    """The format of this input, from its first bytes; 422 when none recognises it."""
    head = data[:65536]
    for fmt in _SNIFF_ORDER:
        if fmt.sniff(head):
            return fmt
    raise Unprocessable(
        "could not recognise the input format; pass ?format= with one of: " + ", ".join(_BY_NAME),
        code="unknown_format",
        details={"known_formats": list(_BY_NAME)},
    )


def resolve(name: str | None, data: bytes) -> Format:
    if name is None or name.strip().lower() in ("", "auto"):
        return detect(data)
    return get(name)

"""Input formats: one module each, a registry, and detection from the first bytes.

A format turns raw bytes into canonical rows (``records.Parsed``). It raises ``Unparseable``
when the input cannot be read at all (refused whole, with the reason); rows it can read but
not use become per-row errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from tokenomist.kit.errors import Unprocessable


@dataclass(frozen=True)
class ImportOptions:
    """What the user tells us about a file the format cannot say itself."""

    provider: str | None = None
    model: str | None = None
    project: str | None = None


class Unparseable(ValueError):
    """The whole input is unreadable in the named format."""


def _modules() -> dict[str, ModuleType]:
    from tokenomist.usage.formats import azure_trace, canonical, litellm, openai_usage, otlp

    return {
        m.NAME: m for m in (canonical, openai_usage, otlp, litellm, azure_trace)
    }  # fmt: skip


def known() -> dict[str, str]:
    """Format name → one-line description."""
    return {name: m.DESCRIPTION for name, m in _modules().items()}


def get(name: str) -> ModuleType:
    modules = _modules()
    key = name.strip().lower()
    if key not in modules:
        raise Unprocessable(
            f"unknown format {name!r}; known formats: {', '.join(modules)}",
            code="unknown_format",
            details={"known_formats": list(modules)},
        )
    return modules[key]


def detect(data: bytes) -> ModuleType:
    """The format of this input, from its first bytes; 422 when none recognises it."""
    head = data[:65536]
    # More specific formats first: each sniff looks for its own markers.
    modules = _modules()
    for name in ("otlp", "openai-usage", "litellm", "azure-trace", "canonical"):
        if modules[name].sniff(head):
            return modules[name]
    raise Unprocessable(
        "could not recognise the input format; pass ?format= with one of: " + ", ".join(modules),
        code="unknown_format",
        details={"known_formats": list(modules)},
    )


def resolve(name: str | None, data: bytes) -> ModuleType:
    if name is None or name.strip().lower() in ("", "auto"):
        return detect(data)
    return get(name)


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def first_char(head: bytes) -> bytes:
    stripped = strip_bom(head).lstrip()
    return stripped[:1]

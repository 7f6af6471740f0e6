"""What every input format is and shares: the ``Format`` contract, import options, the
whole-input refusal, and byte sniffing helpers.

A format turns raw bytes into canonical rows (``records.Parsed``, in ``records.RAW_SCHEMA``). It
raises ``Unparseable`` when the input cannot be read at all (refused whole, with the reason);
rows it can read but not use become per-row errors (``records.RowError``), the rest is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tokenomist.usage.records import Parsed


@dataclass(frozen=True)
class ImportOptions:
    """What the user tells us about a file the format cannot say itself."""

    provider: str | None = None
    model: str | None = None
    project: str | None = None
    # Derive request/prefix fingerprints from captured prompt content (OTLP spans); the
    # ``usage_derive_fingerprints`` setting turns it off for every import.
    derive_fingerprints: bool = True


class Unparseable(ValueError):
    """The whole input is unreadable in the named format."""


@dataclass(frozen=True)
class CsvHeader:
    """The header row a CSV format is recognised by, so detection can say what an input that
    almost matches lacks (``formats.near_miss``)."""

    label: str  # how a message names the format's files: "the canonical CSV"
    required: tuple[str, ...]  # the sniff needs every one of these
    known: frozenset[str]  # every column the format reads
    closed: bool = False  # the header must be exactly ``required``: any other column is wrong


class Format(Protocol):
    """One input format: a module of ``usage/formats/`` with these names, registered in
    ``formats.FORMATS``."""

    NAME: str  # the ``?format=`` value, lower-case
    DESCRIPTION: str  # one line, listed by ``GET /api/v1/usage/formats``

    def sniff(self, head: bytes) -> bool:
        """Whether the first bytes (up to 64 KiB) look like this format; cheap, no parsing."""
        ...

    def parse(self, data: bytes, options: ImportOptions | None = None) -> Parsed:
        """The whole input as rows; raises ``Unparseable`` when it cannot be read at all."""
        ...


def strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def first_char(head: bytes) -> bytes:
    stripped = strip_bom(head).lstrip()
    return stripped[:1]

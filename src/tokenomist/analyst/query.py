"""Building blocks of the analyst's usage SQL: the analysed time window, the filters a
question names, and how both become a parameterised WHERE clause. Column names come from a
fixed allowlist; every value is a ClickHouse ``{name:Type}`` parameter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tokenomist.kit.hygiene import EARLIEST_DATE

# Dimensions a question may group or filter by (the usage summary's group_by, DESIGN §4).
DIMENSIONS: tuple[str, ...] = ("model", "provider", "project", "feature", "end_user", "day")
FILTER_COLUMNS: tuple[str, ...] = ("provider", "model", "project", "feature", "end_user")
MIN_WINDOW_S = 3600.0  # a window shorter than an hour is normalised as one hour
LIST_SEPARATOR = "\x1f"  # joins list parameters (see ``list_param``)


def ch_time(value: datetime) -> str:
    """A UTC datetime as ClickHouse parses a DateTime64(3, 'UTC') parameter."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def parse_ch_time(value: str) -> datetime:
    """A DateTime value as both analytics backends return it in JSON rows."""
    text = value.replace("T", " ").rstrip("Z")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """The analysed period, both ends inclusive. ``anchor`` says what relative periods were
    measured from: ``latest_usage`` (the org's newest record) or ``now`` (the clock)."""

    start: datetime
    end: datetime
    label: str
    anchor: str
    # The part of the window on days that had traffic (None: all of it). A month of data
    # followed by three years of silence is a month's run-rate, not a 1/36th of one.
    active_days: float | None = None

    @property
    def span_days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def days(self) -> float:
        """Length used to normalise to a month: the days with traffic (never below one hour,
        so a burst of a few minutes is not extrapolated 10,000-fold)."""
        seconds = (self.end - self.start).total_seconds()
        if self.active_days is not None:
            seconds = min(seconds, self.active_days * 86400)
        return max(seconds, MIN_WINDOW_S) / 86400

    def monthly(self, amount: float) -> float:
        """An amount over this window, normalised to 30 days."""
        return amount * 30.0 / self.days

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": iso(self.start),
            "to": iso(self.end),
            "days": round(self.span_days, 3),
            "active_days": round(self.days, 3),
            "label": self.label,
            "anchor": self.anchor,
        }

    @classmethod
    def last(cls, days: float, end: datetime, label: str, anchor: str) -> Window:
        # "the last 999999999 days" reaches past what datetime (and the analytics tier's
        # DateTime64) holds: such a window starts at the earliest date the service takes.
        reach = (end - EARLIEST_DATE).total_seconds() / 86400
        return cls(end - timedelta(days=max(min(days, reach), 0)), end, label, anchor)


@dataclass(frozen=True)
class Filters:
    """Equality filters on usage columns (a question about "gpt-4o" filters model=gpt-4o);
    a tuple of values is a set ("Claude" filters model in {claude-3-5-sonnet, claude-3-haiku})."""

    values: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "excluding legal"

    def __post_init__(self) -> None:
        unknown = (set(self.values) | set(self.exclude)) - set(FILTER_COLUMNS)
        if unknown:
            raise ValueError(
                f"unknown filter column(s) {sorted(unknown)}; allowed: {', '.join(FILTER_COLUMNS)}"
            )

    def __bool__(self) -> bool:
        return bool(self.values or self.exclude)

    def describe(self) -> str:
        parts = [
            f"{k}={v}" if isinstance(v, str) else f"{k} in {{{', '.join(v)}}}"
            for k, v in sorted(self.values.items())
        ]
        parts += [f"{k} not in {{{', '.join(v)}}}" for k, v in sorted(self.exclude.items())]
        return ", ".join(parts)

    def exclude_json(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.exclude.items()}

    def to_json(self) -> dict[str, str | list[str]]:
        return {k: v if isinstance(v, str) else list(v) for k, v in self.values.items()}


def where(window: Window | None, filters: Filters | None = None) -> tuple[str, dict[str, Any]]:
    """``(sql_condition, params)`` for a window and filters; parameter names start with ``w_``,
    ``f_`` and ``x_`` so callers can add their own."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if window is not None:
        parts.append("timestamp >= {w_from:DateTime64(3, 'UTC')}")
        parts.append("timestamp <= {w_to:DateTime64(3, 'UTC')}")
        params["w_from"] = ch_time(window.start)
        params["w_to"] = ch_time(window.end)
    for column, value in sorted((filters.values if filters else {}).items()):
        # The column comes from the allowlist; the values are parameters.
        if isinstance(value, str):
            parts.append(f"{column} = {{f_{column}:String}}")
            params[f"f_{column}"] = value
        else:
            parts.append(f"has({split_list(f'f_{column}')}, {column})")
            params[f"f_{column}"] = list_param(value)
    for column, excluded in sorted((filters.exclude if filters else {}).items()):
        parts.append(f"NOT has({split_list(f'x_{column}')}, {column})")
        params[f"x_{column}"] = list_param(excluded)
    return (" AND ".join(parts) or "1"), params


def list_param(values: Iterable[str]) -> str:
    """A list of strings as one String parameter, split in SQL with ``split_list(name)``.
    (Array parameters are spelled differently by the two analytics backends.)"""
    items = [str(v) for v in values]
    for v in items:
        if LIST_SEPARATOR in v:
            raise ValueError(f"value {v!r} cannot be passed as a list parameter")
    return LIST_SEPARATOR.join(items)


def split_list(name: str) -> str:
    return f"splitByChar('\\x1F', {{{name}:String}})"


def number_list(name: str) -> str:
    return f"arrayMap(x -> toUInt64(x), {split_list(name)})"

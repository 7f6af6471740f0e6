"""The shapes every analyst tool shares: argument models (the run's scope: window and
filters), results, the ``Tool`` record, and the totals every usage query returns. Split from
``tools`` so that tool modules can be registered there without an import cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tokenomist.analyst.context import RunContext
from tokenomist.analyst.query import Filters, Window

# -- arguments ---------------------------------------------------------------------------------


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Scope(ToolArgs):
    """Time window (both ends inclusive, UTC) and equality filters."""

    from_: datetime | None = Field(None, alias="from", description="window start (UTC)")
    to: datetime | None = Field(None, description="window end, inclusive (UTC)")
    # One value, or a list for a set ("Claude" is model in [claude-3-5-sonnet, ...]).
    provider: str | list[str] | None = None
    model: str | list[str] | None = None
    project: str | list[str] | None = None
    feature: str | list[str] | None = None
    end_user: str | list[str] | None = None
    exclude: (
        dict[Literal["provider", "model", "project", "feature", "end_user"], list[str]] | None
    ) = Field(None, description="values to leave out, per column")

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A time without an offset is UTC (the usage data is UTC throughout).
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def window(self) -> Window | None:
        if self.from_ is None and self.to is None:
            return None
        start = self.from_ or datetime(1970, 1, 1, tzinfo=UTC)
        end = self.to or datetime.now(UTC)
        return Window(start, end, "requested", "explicit")

    def filters(self) -> Filters:
        values = {
            k: v if isinstance(v, str) else tuple(v)
            for k in ("provider", "model", "project", "feature", "end_user")
            if (v := getattr(self, k)) is not None
        }
        exclude: dict[str, tuple[str, ...]] = {
            str(k): tuple(v) for k, v in (self.exclude or {}).items() if v
        }
        return Filters(values, exclude)

    @classmethod
    def of(cls, window: Window | None, filters: Filters | None = None) -> Scope:
        values: dict[str, Any] = filters.to_json() if filters else {}
        if filters is not None and filters.exclude:
            values["exclude"] = filters.exclude_json()
        if window is not None:
            values.update({"from": window.start, "to": window.end})
        return cls.model_validate(values)


class NoArgs(ToolArgs):
    pass


# -- results ---------------------------------------------------------------------------------


@dataclass
class ToolResult:
    data: Any
    summary: str


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args_model: type[ToolArgs]
    fn: Callable[[RunContext, Any], Awaitable[ToolResult]]

    def schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.args_model.model_json_schema(by_alias=True),
        }


def jsonable(value: Any) -> Any:
    """A tool result as JSON-compatible data (for MCP and the event log)."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


TOTALS_SQL = """
    count() AS requests,
    countIf(cost_usd IS NULL) AS unpriced_requests,
    sum(input_tokens) AS sum_input_tokens,
    sum(cached_input_tokens) AS sum_cached_input_tokens,
    sum(output_tokens) AS sum_output_tokens,
    ifNull(sum(cost_usd), 0) AS sum_cost_usd
"""


def priced_cost(requests: int, unpriced: int, cost: float) -> float | None:
    """The spend of a group, or None when it has calls and none of them has a price: an
    unknown model is unpriced, never $0 (the usage summary's rule, DESIGN §6)."""
    return None if requests and unpriced >= requests else float(cost)


def totals(row: dict[str, Any]) -> dict[str, Any]:
    requests, unpriced = int(row["requests"]), int(row["unpriced_requests"])
    return {
        "requests": requests,
        "input_tokens": int(row["sum_input_tokens"]),
        "cached_input_tokens": int(row["sum_cached_input_tokens"]),
        "output_tokens": int(row["sum_output_tokens"]),
        "cost_usd": priced_cost(requests, unpriced, row["sum_cost_usd"]),
        "unpriced_requests": unpriced,
    }

"""Input hygiene: values the storage tiers cannot hold are refused at the edge, as a 422 that
names the field, on every backend alike.

PostgreSQL ``text`` cannot hold U+0000 (asyncpg raises ``CharacterNotInRepertoireError``) and
no UTF-8 encoder takes a lone UTF-16 surrogate (U+D800-U+DFFF); SQLite stores both. Left to
the database, the same request is a 500 on one backend and a 201 on the other. Integers past
64 bits fit no column (nor a Redis stream id). Dates outside 1970-2200 are likewise refused:
the analytics tier's DateTime64 and the epoch arithmetic downstream do not take year 89 or
year 9999.

Why here, and in these three forms:

- ``CleanInput`` is the base of every request body and WebSocket client frame. Its one
  ``field_validator("*")`` checks every field a subclass declares — present and future — so a
  new endpoint cannot forget it (``tests/foundation/test_hygiene.py`` checks that every
  route's body model is one), and pydantic reports the error at the field's own location.
- ``clean_params`` is an application-wide dependency (``create_app`` installs it) that checks
  path and query parameters, which reach endpoints as plain ``str`` arguments no model sees.
- ``InRangeDatetime`` is the annotated type for a date the caller supplies.

Raw ingest bodies (``/api/v1/usage``, imports, OTLP) are not pydantic models and go to the
analytics tier; their rows are checked column-wise in ``usage.validation.validate``, where a row
with a NUL in any string field is that row's error and the others are kept (the labels flow
into reports the SQL tier stores, so they follow the same rule). Headers need nothing here:
they arrive as latin-1 text, and credentials in them are hashed or verified, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import WebSocketException, status
from pydantic import AfterValidator, BaseModel, field_validator
from pydantic_core import PydanticCustomError
from starlette.requests import HTTPConnection

from tokenomist.kit.errors import Unprocessable

EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_DATES = datetime(2201, 1, 1, tzinfo=UTC)  # exclusive: the year 2200 is still in range
DATE_RANGE_TEXT = "between 1970-01-01 and 2200-12-31 (UTC)"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64_PROBLEM = "must fit in a signed 64-bit integer"


def text_problem(value: str) -> str | None:
    """Why this string cannot be stored, or ``None`` when it can."""
    if "\x00" in value:
        return "must not contain a NUL character (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"must not contain a lone surrogate (U+{ord(value[exc.start]):04X})"
    return None


def find_problem(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first unstorable value inside ``value`` (dict keys included): ``(where, problem)``,
    ``where`` being the position inside the value (``"[2]"``, ``".name"``) or ``""``.
    Strings must be storable text; integers must fit the 64-bit columns (and Redis stream ids)
    they end up in."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (where, problem) if problem else None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if INT64_MIN <= value <= INT64_MAX else (where, INT64_PROBLEM)
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_problem(key, f"{where} key") or find_problem(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            found = find_problem(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _describe(found: tuple[str, str]) -> str:
    where, problem = found
    return f"{where.lstrip('.')}: {problem}" if where else problem


class CleanInput(BaseModel):
    """Base of every request body and client frame: no field may hold a string the SQL tier
    cannot store (see the module docstring)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        found = find_problem(value)
        if found:
            raise PydanticCustomError("unstorable_text", _describe(found))
        return value


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("unstorable_text", problem)
    return value


# For a standalone string that is no field of a CleanInput (a Body/Form parameter).
CleanStr = Annotated[str, AfterValidator(check_text)]


def check_date(value: datetime) -> datetime:
    """A supplied date as UTC (naive = UTC), refused outside 1970-2200."""
    if not date_in_range(value):
        raise PydanticCustomError("date_out_of_range", f"must be {DATE_RANGE_TEXT}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def date_in_range(value: datetime) -> bool:
    # Compared as aware datetimes, without converting: 9999-12-31T23:00-05:00 in UTC would
    # overflow datetime itself.
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return EARLIEST_DATE <= aware < END_OF_DATES


InRangeDatetime = Annotated[datetime, AfterValidator(check_date)]


def _param_problems(kind: str, items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    details = []
    for name, value in items:
        problem = text_problem(name) or text_problem(value)
        if problem:
            shown = name if text_problem(name) is None else repr(name)
            details.append({"field": f"{kind}.{shown}", "message": problem})
    return details


async def clean_params(connection: HTTPConnection) -> None:
    """Refuse path and query parameters holding what the SQL tier cannot store.

    Installed once for the whole app (``FastAPI(dependencies=...)``), so it runs before any
    endpoint dependency (authentication included): a malformed URL is refused the same way
    whoever sends it. URLs are percent-decoded as UTF-8 with replacement, so only NUL can
    arrive here; the surrogate check is kept for parity with bodies."""
    details = _param_problems("path", connection.path_params.items())
    details += _param_problems("query", connection.query_params.multi_items())
    if not details:
        return
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    if connection.scope["type"] == "websocket":
        # Before accept, a close is sent as a refused handshake (HTTP 403).
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=message[:120])
    raise Unprocessable(f"invalid request parameters: {message}", details=details)

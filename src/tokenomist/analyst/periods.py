"""Periods a question names, and the windows they resolve to.

Relative periods are measured back from an anchor that every report states: the org's latest
usage record (``analyst_window_anchor = "data"``, the default) or the clock (``"now"``).
"last week" is the 7 days up to the anchor and "last month" the 30 days; "today",
"yesterday", "this week"/"since Monday" and "this month" are calendar periods in UTC;
"in November 2023", "Q3", "between 2023-11-01 and 2023-11-30" are explicit. A month or
quarter named without a year is the latest one that began by the anchor."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tokenomist.analyst import fmt
from tokenomist.analyst.query import Window

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]  # fmt: skip
_MONTH_RE = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UNITS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "twenty": 20,
                "thirty": 30}  # fmt: skip
_UNIT = r"(hour|day|week|month|year)"
_NUM = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"
_DATE = (
    r"(\d{4}-\d{2}-\d{2}|" + _MONTH_RE + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+\d{4})"
)


_DAY_NY = (
    r"(?:" + _MONTH_RE.replace("(", "(?:", 1) + r"\s+\d{1,2}(?:st|nd|rd|th)?|\d{1,2}"
    r"(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE.replace("(", "(?:", 1) + r")(?![\d,]|\s+\d)"
)


@dataclass(frozen=True)
class Period:
    """``kind``: default | last | today | yesterday | this_week | this_month | prev_month |
    all | month | quarter | range | since. ``start``/``end`` are ISO dates for explicit
    periods (``end`` inclusive); ``year`` None means "the latest one"."""

    kind: str = "default"
    days: float | None = None
    text: str = ""
    start: str | None = None
    end: str | None = None
    month: int | None = None
    quarter: int | None = None
    year: int | None = None
    weekday: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Period:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# More units than this reach back past 1970 whatever the unit (hours included), where every
# window starts anyway; a count past it would only overflow dates and the 64-bit integers of
# the stored report and event frames.
MAX_UNITS = 10_000_000


def number(text: str) -> int:
    return min(int(text), MAX_UNITS) if text.isdigit() else NUMBER_WORDS[text.lower()]


def _month_no(text: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(text.lower()[:3]))


def parse_date(text: str) -> datetime:
    t = text.strip().lower().replace(",", "")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        return datetime.strptime(t, "%Y-%m-%d").replace(tzinfo=UTC)
    parts = t.split()
    if parts[0].isdigit():
        day, month, year = parts
    else:
        month, day, year = parts
    return datetime(int(year), _month_no(month), int(day), tzinfo=UTC)


def find_periods(q: str) -> list[tuple[Period, tuple[int, int]]]:
    """Every period the question names, in order, with its span in the text."""
    found: list[tuple[Period, tuple[int, int]]] = []
    taken: list[tuple[int, int]] = []

    def add(period: Period, m: re.Match) -> None:
        span = m.span()
        if any(a < span[1] and span[0] < b for a, b in taken):
            return
        taken.append(span)
        found.append((period, span))

    for pattern, build in _PATTERNS:
        for m in re.finditer(pattern, q, re.I):
            period = build(m)
            if period is not None:
                add(period, m)
    found.sort(key=lambda item: item[1][0])
    return found


def _between(m: re.Match) -> Period:
    start, end = parse_date(m.group(1)), parse_date(m.group(m.lastindex or 1))
    start, end = min(start, end), max(start, end)
    text = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return Period("range", text=text, start=f"{start:%Y-%m-%d}", end=f"{end:%Y-%m-%d}")


def _month_day(text: str) -> str:
    """``--MM-DD`` for a date written without a year ("Nov 1", "15th of November")."""
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.lower().replace(" of ", " "))
    parts = t.split()
    day, name = (parts[0], parts[1]) if parts[0].isdigit() else (parts[1], parts[0])
    return f"--{_month_no(name):02d}-{int(day):02d}"


def _between_no_year(m: re.Match) -> Period:
    start, end = _month_day(m.group("a")), _month_day(m.group("b"))
    return Period("range", text=f"{m.group('a')} to {m.group('b')}", start=start, end=end)


def _since_date(m: re.Match) -> Period:
    start = parse_date(m.group(1))
    return Period("since", text=f"since {start:%Y-%m-%d}", start=f"{start:%Y-%m-%d}")


def _on_date(m: re.Match) -> Period:
    day = parse_date(m.group(1))
    iso_day = f"{day:%Y-%m-%d}"
    return Period("range", text=iso_day, start=iso_day, end=iso_day)


def _month(m: re.Match) -> Period:
    month = _month_no(m.group(1))
    year = int(m.group(m.lastindex)) if m.lastindex and m.lastindex > 1 else None
    label = MONTHS[month - 1].title() + (f" {year}" if year else "")
    return Period("month", text=label, month=month, year=year)


def _quarter(m: re.Match) -> Period:
    quarter = int(m.group(1))
    year = int(m.group(2)) if m.group(2) else None
    return Period("quarter", text=f"Q{quarter}" + (f" {year}" if year else ""), quarter=quarter,
                  year=year)  # fmt: skip


def _last_n(m: re.Match) -> Period:
    n, unit = number(m.group(1)), m.group(2).lower()
    return Period("last", n * _UNITS[unit], f"last {fmt.plural(n, unit)}")


def _last_unit(m: re.Match) -> Period:
    unit = m.group(1).lower()
    days = 1.0 if unit == "24 hours" else _UNITS[unit]
    return Period("last", days, f"last {unit}")


def _since_weekday(m: re.Match) -> Period:
    day = _WEEKDAYS.index(m.group(1).lower())
    return Period("since", text=f"since {m.group(1).title()}", weekday=day)


def _year(m: re.Match) -> Period:
    year = int(m.group(1))
    return Period("range", text=str(year), start=f"{year}-01-01", end=f"{year}-12-31")


def _fixed(kind: str, text: str):
    return lambda m: Period(kind, text=text)


_PATTERNS = [
    (rf"\b(?:between|from)\s+{_DATE}\s+(?:and|to|until|-)\s+{_DATE}", _between),
    (rf"\b(?:between|from)\s+(?P<a>{_DAY_NY})\s+(?:and|to|until|-)\s+(?P<b>{_DAY_NY})",
     _between_no_year),
    (rf"\bsince\s+{_DATE}", _since_date),
    (rf"\bon\s+{_DATE}", _on_date),
    (r"\bq([1-4])(?:\s+(?:of\s+)?(\d{4}))?\b", _quarter),
    (rf"\b{_MONTH_RE}\s+(\d{{4}})\b", _month),
    (rf"\b(?:in|during|for|of)\s+{_MONTH_RE}\b(?!\s+\d)", _month),
    (rf"\b(?:last|past|previous|over the last|in the last)\s+{_NUM}\s+{_UNIT}s?\b",
     _last_n),
    (r"\b(?:last|past|previous)\s+(24 hours|hour|day|week|month|year)\b", _last_unit),
    (r"\bsince\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", _since_weekday),
    (r"\btoday\b", _fixed("today", "today")),
    (r"\byesterday\b", _fixed("yesterday", "yesterday")),
    (r"\bthis week\b", _fixed("this_week", "this week")),
    (r"\b(?:this month|month to date|mtd)\b", _fixed("this_month", "this month")),
    (r"\b(?:(?:so far )?this year|year to date|ytd)\b", _fixed("this_year", "this year")),
    (r"\b(?:last|previous) quarter\b", _fixed("prev_quarter", "last quarter")),
    (r"\bthis quarter\b", _fixed("this_quarter", "this quarter")),
    (r"\b(?:in|during|for|of)\s+((?:19|20)\d{2})\b", _year),
    (r"\b(?:the )?(?:calendar )?month before\b", _fixed("prev_month", "last calendar month")),
    (r"\b(all time|ever|so far|in total|all (?:of )?(?:the |our )?data|overall)\b",
     _fixed("all", "all data")),
]  # fmt: skip


def parse_period(q: str) -> Period:
    periods = find_periods(q)
    return periods[0][0] if periods else Period()


# -- from a period to a window -----------------------------------------------------------


def _day_start(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def _end_of(day: datetime) -> datetime:
    return _day_start(day) + timedelta(days=1) - timedelta(milliseconds=1)


def _month_window(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt - timedelta(milliseconds=1)


def resolve(
    period: Period, end: datetime, earliest: datetime, anchor: str, default_days: int = 30
) -> Window:
    """The window of a period, ``end`` being the anchor (latest record, or now)."""
    midnight = _day_start(end)
    window = _relative(period, end, midnight, anchor)
    if window is None:
        window = _absolute(period, end, earliest, midnight, anchor)
    if window is not None:
        return window
    start = max(earliest, end - timedelta(days=default_days))
    if start > earliest:
        label = f"last {default_days} days"
    else:
        label = f"all data ({fmt.duration((end - start).total_seconds())})"
    return Window(start, end, label, anchor)


def _relative(period: Period, end: datetime, midnight: datetime, anchor: str) -> Window | None:
    """Periods counted back from ``end``: last N days, today, this week/month/quarter/year..."""
    k = period.kind
    if k == "last" and period.days:
        return Window.last(period.days, end, period.text or f"last {period.days:g} days", anchor)
    if k == "today":
        return Window(midnight, end, "today (UTC)", anchor)
    if k == "yesterday":
        start = midnight - timedelta(days=1)
        return Window(start, midnight - timedelta(milliseconds=1), "yesterday (UTC)", anchor)
    if k == "this_week":
        return Window(midnight - timedelta(days=end.weekday()), end, "this week (UTC)", anchor)
    if k == "this_month":
        return Window(midnight.replace(day=1), end, "this month (UTC)", anchor)
    if k == "this_year":
        return Window(midnight.replace(month=1, day=1), end, f"{end.year} so far (UTC)", anchor)
    if k in ("this_quarter", "prev_quarter"):
        q = (end.month - 1) // 3 + (1 if k == "this_quarter" else 0)
        year = end.year if q > 0 else end.year - 1
        q = q if q > 0 else 4
        first_month = 3 * (q - 1) + 1
        start, stop = _month_window(year, first_month)[0], _month_window(year, first_month + 2)[1]
        if k == "this_quarter":
            return Window(start, end, f"Q{q} {year} so far (UTC)", anchor)
        return Window(start, stop, f"Q{q} {year}", "explicit")
    if k == "prev_month":
        before = midnight.replace(day=1) - timedelta(days=1)
        start, stop = _month_window(before.year, before.month)
        return Window(start, stop, f"{start:%B %Y}", "explicit")
    return None


def _absolute(
    period: Period, end: datetime, earliest: datetime, midnight: datetime, anchor: str
) -> Window | None:
    """Periods that name their dates: all data, a month, a quarter, a range, since a day."""
    k = period.kind
    if k == "all":
        return Window(earliest, end, "all data", anchor)
    if k == "month" and period.month:
        year = period.year or (end.year if period.month <= end.month else end.year - 1)
        start, stop = _month_window(year, period.month)
        return Window(start, stop, f"{start:%B %Y}", "explicit")
    if k == "quarter" and period.quarter:
        first = 3 * (period.quarter - 1) + 1
        year = period.year or (end.year if first <= end.month else end.year - 1)
        start = _month_window(year, first)[0]
        stop = _month_window(year, first + 2)[1]
        return Window(start, stop, f"Q{period.quarter} {year}", "explicit")
    if k == "range" and period.start and period.end:
        if period.start.startswith("--"):
            return _yearless(period, end)
        start = parse_date(period.start)
        stop = _end_of(parse_date(period.end))
        return Window(start, stop, period.text, "explicit")
    if k == "since":
        if period.weekday is not None:
            start = midnight - timedelta(days=(end.weekday() - period.weekday) % 7)
            return Window(start, end, f"since {start:%A %Y-%m-%d} (UTC)", anchor)
        if period.start:
            return Window(parse_date(period.start), end, period.text, anchor)
    return None


def _yearless(period: Period, anchor: datetime) -> Window:
    """Dates without a year: the latest such range that began by the anchor."""
    assert period.start and period.end
    sm, sd = (int(x) for x in period.start[2:].split("-"))
    em, ed = (int(x) for x in period.end[2:].split("-"))
    year = anchor.year if (sm, sd) <= (anchor.month, anchor.day) else anchor.year - 1
    start = datetime(year, sm, sd, tzinfo=UTC)
    stop = _end_of(datetime(year + ((em, ed) < (sm, sd)), em, ed, tzinfo=UTC))
    return Window(start, stop, f"{start:%Y-%m-%d} to {stop:%Y-%m-%d}", "explicit")


def previous(window: Window) -> Window:
    """The period of the same length just before a window (for "why?" and trends)."""
    length = window.end - window.start
    end = window.start - timedelta(milliseconds=1)
    return Window(
        end - length, end, f"the {fmt.duration(length.total_seconds())} before", "explicit"
    )

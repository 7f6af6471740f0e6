"""How figures read, in one place for the report, the CLI and the UI: money, durations,
counts and plurals, percentages, confidence.

Two rules keep a figure and its restatement in agreement: every amount is rounded once, here,
to the precision it is shown at (Python's correctly rounded formatting of the stored value, as
everything else that prints these figures uses), and an amount small enough to round to the
same cents as another is shown with more digits, so "$0.0012 instead of $0.0480" never reads
"$0.00 instead of $0.05"."""

from __future__ import annotations

SMALL_USD = 1.0  # below this, money shows significant digits rather than cents
CONFIDENCE_ORDER = ("low", "medium", "high")


def money_value(value: float, places: int | None = None) -> float:
    """The amount exactly as ``money`` shows it (for figures restated elsewhere)."""
    p = _places(value) if places is None else places
    return float(f"{float(value):.{p}f}")


def _places(value: float) -> int:
    """Cents for a dollar or more; otherwise enough decimals for two significant digits
    (at most six: a millionth of a dollar is the smallest amount worth showing)."""
    a = abs(value)
    if a == 0 or a >= SMALL_USD:
        return 2
    places = 2
    while places < 6 and a < 10 ** (1 - places):
        places += 1
    return places


def money(value: float | None, *, places: int | None = None, unpriced: str = "n/a") -> str:
    """``$1,234.56``; ``$0.0012`` for small amounts; ``unpriced`` text for None (unknown
    price is never $0)."""
    if value is None:
        return unpriced
    p = _places(value) if places is None else places
    shown = money_value(value, p)
    sign = "-" if shown < 0 else ""
    return f"{sign}${abs(shown):,.{p}f}"


def money_pair(a: float | None, b: float | None) -> tuple[str, str]:
    """Two amounts at one precision, enough for them to differ when they do."""
    if a is None or b is None:
        return money(a), money(b)
    p = max(_places(a), _places(b))
    while p < 6 and a != b and money_value(a, p) == money_value(b, p):
        p += 1
    return money(a, places=p), money(b, places=p)


def per_month(value: float | None) -> str:
    return f"{money(value)}/month"


def plural(n: float, singular: str, plural_form: str | None = None) -> str:
    """``1 strategy``, ``2 strategies``, ``1,234 requests``."""
    word = singular if n == 1 else (plural_form or _plural(singular))
    number = f"{n:,}" if isinstance(n, int) else f"{n:,.1f}".removesuffix(".0")
    return f"{number} {word}"


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def duration(seconds: float) -> str:
    """One unit, chosen by size: ``45 seconds``, ``58 minutes``, ``5.5 hours``, ``3 days``,
    ``1,110 days``. Whole numbers are shown without decimals."""
    s = max(float(seconds), 0.0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size - 0.5:  # 59.7 s reads "1 minute", as it rounds
            value = s / size
            shown = round(value) if value >= 10 or abs(value - round(value)) < 0.05 else value
            return plural(int(shown) if float(shown).is_integer() else round(shown, 1), unit)
    return plural(round(s), "second")


def days(value: float) -> str:
    return duration(value * 86400)


def pct(value: float | None) -> str:
    """``12.3%``; below 0.1 % it keeps two significant digits so a non-zero share is not 0."""
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < 0.1:
        return f"{value:.2g}%"
    return f"{value:.1f}%"


def cap_confidence(confidence: str, ceiling: str) -> str:
    """The lower of two confidence levels."""
    rank = {c: i for i, c in enumerate(CONFIDENCE_ORDER)}
    return min(confidence, ceiling, key=lambda c: rank.get(c, 0))


def confidence_ceiling(requests: int, active_days: float) -> tuple[str, str | None]:
    """How much a finding on this much data can be trusted, and why not more: an hour of
    traffic or a few dozen requests say little about a month."""
    if requests < 100 or active_days < 1:
        return "low", f"{plural(requests, 'request')} over {days(active_days)} of traffic"
    if requests < 1000 or active_days < 7:
        return "medium", f"{plural(requests, 'request')} over {days(active_days)} of traffic"
    return "high", None

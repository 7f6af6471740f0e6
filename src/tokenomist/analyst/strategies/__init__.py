"""The seven strategies of DESIGN §6, one module each (the ``Strategy`` contract in ``base``),
registered in ``REGISTRY`` below.

``REGISTRY`` is the order in which savings are combined (see ``combine``) and says how each
one combines: first the ones that remove calls, then the ones that change a call's price,
then the discounts. Adding a strategy: a new module here and one line in ``REGISTRY``; its
``Section`` becomes its table in the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokenomist.analyst.strategies import (
    batch_tier,
    duplicate_requests,
    error_waste,
    model_right_sizing,
    prompt_caching,
    provider_arbitrage,
    truncation,
)
from tokenomist.analyst.strategies.base import Strategy

# removal: takes its own calls out of a cell (standalone dollars, up to what is left);
# repricing: changes what every remaining call costs; discount: the same, on a cheaper tier.
# The last two scale with what the strategies before them left in the cell.
Kind = Literal["removal", "repricing", "discount"]
KINDS: tuple[Kind, ...] = ("removal", "repricing", "discount")  # the order they combine in


@dataclass(frozen=True)
class Registered:
    strategy: Strategy
    kind: Kind
    # An alternative to an earlier strategy: skipped in the cells that one already changed.
    instead_of: str | None = None


REGISTRY: tuple[Registered, ...] = (
    Registered(error_waste, "removal"),
    Registered(duplicate_requests, "removal"),
    Registered(truncation, "removal"),
    Registered(model_right_sizing, "repricing"),
    Registered(provider_arbitrage, "repricing", instead_of=model_right_sizing.ID),
    Registered(batch_tier, "discount"),
    Registered(prompt_caching, "discount"),
)
ORDER: tuple[Strategy, ...] = tuple(r.strategy for r in REGISTRY)
BY_ID: dict[str, Strategy] = {s.ID: s for s in ORDER}

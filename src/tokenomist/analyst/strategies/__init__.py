"""The seven strategies of DESIGN §6, one module each, with ``ID`` and ``async find(env)``.

``ORDER`` is the order in which they are combined (see ``combine``): first the ones that
remove calls, then the ones that change a call's price, then the discounts."""

from __future__ import annotations

from tokenomist.analyst.strategies import (
    batch_tier,
    duplicate_requests,
    error_waste,
    model_right_sizing,
    prompt_caching,
    provider_arbitrage,
    truncation,
)

ORDER = (
    error_waste,
    duplicate_requests,
    truncation,
    model_right_sizing,
    provider_arbitrage,
    batch_tier,
    prompt_caching,
)
BY_ID = {module.ID: module for module in ORDER}

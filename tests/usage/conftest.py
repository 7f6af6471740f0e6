"""Fixtures for the usage suites: opened resources (no HTTP). Helpers (accounts over real HTTP,
the format fixtures, the Azure trace) are in tests/support/usage.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tokenomist.kit.resources import close_resources, open_resources
from tokenomist.usage import lifecycle


@pytest.fixture
async def resources(make_settings) -> AsyncIterator:
    """The app's resources on the embedded tiers, with the usage domain started."""
    res = await open_resources(make_settings())
    await lifecycle.start(res)
    try:
        yield res
    finally:
        await lifecycle.stop(res)
        await close_resources(res)

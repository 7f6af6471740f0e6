"""Usage domain start/stop: build the Pricer once, and seed the demo when asked."""

from __future__ import annotations

import sys

import structlog

from tokenomist.kit.resources import Resources, StartupError
from tokenomist.usage.pricing import PriceOverrideError, get_pricer

log = structlog.get_logger(__name__)


async def start(resources: Resources) -> None:
    try:
        pricer = get_pricer(resources.settings)
    except PriceOverrideError as exc:
        raise StartupError(f"startup failed: price overrides: {exc}") from exc
    resources.pricer = pricer
    log.info("usage.pricer_ready", prices=pricer.snapshot, overrides=str(pricer.overrides_file))
    if resources.settings.demo:
        from tokenomist.usage.demo import seed_demo

        email, password = await seed_demo(resources)
        host, port = resources.settings.host, resources.settings.port
        # Printed, not only logged: this is what a newcomer running `make run` needs to read.
        print(
            f"\n  Tokenomist demo: sign in at http://{host}:{port}/ as {email} / {password}\n",
            file=sys.stderr,
            flush=True,
        )
        log.info("usage.demo_seeded", email=email)


async def stop(resources: Resources) -> None:
    resources.pricer = None

"""What the realtime layer needs from whoever runs analyses, as an interface.

The analyst implements it and hands it over at start-up (``resources.runs``), so the transport
layer never imports the domain above it. Every call is scoped to the principal: another user's
run is indistinguishable from a missing one (``NotFound``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tokenomist.auth.principal import Principal
    from tokenomist.kit.resources import Resources


class RunControl(Protocol):
    async def start(
        self, resources: Resources, principal: Principal, message: str, thread_id: str | None
    ) -> str:
        """Start a run for the principal's question; its run id."""
        ...

    async def is_finished(self, resources: Resources, principal: Principal, run_id: str) -> bool:
        """Whether the principal's run has reached a terminal status (per the system of
        record, so it holds on any instance)."""
        ...

    async def cancel(self, resources: Resources, principal: Principal, run_id: str) -> None: ...

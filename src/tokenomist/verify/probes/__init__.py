"""Black-box probes of a deployment over HTTP and WebSocket only (httpx + websockets), one
module per kind of check: ``health``, ``auth``, ``websocket``, ``runs`` (golden path,
concurrency, timing, isolation, resume). ``runner.CHECKS`` is the ordered table of every check;
``run_checks`` walks it. A probe is ``async (RunState) -> message``: it raises ``ProbeFailed``
with the signals classification matches on and the evidence the whys quote, or
``ProbeSkipped`` with the reason it cannot judge."""

from tokenomist.verify.probes.runner import CHECKS, CheckSpec, run_checks
from tokenomist.verify.probes.runs import check_order
from tokenomist.verify.probes.signals import ProbeFailed, ProbeSkipped, exception_signals
from tokenomist.verify.probes.state import ProbeConfig, RunState, Session

__all__ = [
    "CHECKS",
    "CheckSpec",
    "ProbeConfig",
    "ProbeFailed",
    "ProbeSkipped",
    "RunState",
    "Session",
    "check_order",
    "exception_signals",
    "run_checks",
]

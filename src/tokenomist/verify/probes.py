"""Black-box probes of a deployment over HTTP and WebSocket only (httpx + websockets).

Each probe yields a ``Check``. A failing probe raises ``ProbeFailed`` with the message, the
signals classification matches on and the evidence the whys quote; the runner retries it
(``Thresholds.retries``) and records every attempt so a pass-after-fail is visible as flaky.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tokenomist.kit.netdiag import classify as net_classify
from tokenomist.verify.gate import Thresholds
from tokenomist.verify.schemas import Check

SUBPROTOCOL = "tokenomist.v1"
AGENT_EVENTS = ("agent_thinking", "tool_executing", "tool_completed")
TERMINAL = ("run_completed", "run_failed")
GOLDEN_QUESTION = "How can we cut our AI spend?"


class ProbeFailed(Exception):
    def __init__(
        self,
        message: str,
        *,
        signals: list[str] | None = None,
        evidence: list[str] | None = None,
        subject: str = "target",
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.signals = signals or []
        self.evidence = evidence or []
        self.subject = subject
        self.data = data or {}


class ProbeSkipped(Exception):
    pass


def exception_signals(exc: BaseException) -> list[str]:
    """Tags and texts of an exception and its causes (what the catalogue matches on)."""
    out: list[str] = [f"net.kind:{net_classify(exc).kind}", net_classify(exc).message]
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(f"{type(cur).__name__}: {cur}")
        if isinstance(cur, InvalidStatus):
            out.append(f"ws.handshake:{cur.response.status_code}")
            out.append(cur.response.body.decode(errors="replace")[:500])
        if isinstance(cur, ConnectionClosed):
            code = cur.rcvd.code if cur.rcvd is not None else 1006
            reason = cur.rcvd.reason if cur.rcvd is not None else "no close frame"
            out.append(f"ws.close:{code}")
            out.append(f"WebSocket closed {code}: {reason}")
        cur = cur.__cause__ or cur.__context__
    return out


def response_signals(resp: httpx.Response) -> list[str]:
    out = [f"http:{resp.status_code}"]
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code in (502, 503, 504) and not (
        isinstance(body, dict) and ("error" in body or "checks" in body)
    ):
        out.append(f"edge:{resp.status_code}")  # not the app's own JSON: a proxy answered
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        out.append(f"auth.error:{err.get('code')}")
        reason = (err.get("details") or {}) if isinstance(err.get("details"), dict) else {}
        if reason.get("reason"):
            out.append(f"auth.reason:{reason['reason']}")
        out.append(f"{err.get('code')}: {err.get('message')}")
    out.append(resp.text[:500])
    return out


def quote_response(method: str, path: str, resp: httpx.Response) -> str:
    return f"{method} {path} → {resp.status_code} {resp.text[:300]}"


@dataclass
class Session:
    email: str
    password: str
    access_token: str | None = None
    user_id: str | None = None


@dataclass
class RunTrace:
    run_id: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    time_to_first_event_ms: float | None = None
    time_to_completion_ms: float | None = None


class Verifier:
    def __init__(
        self,
        target: str,
        *,
        thresholds: Thresholds,
        user: tuple[str, str] | None = None,
        user2: tuple[str, str] | None = None,
        token: str | None = None,
        concurrency: int = 7,
        request_timeout_s: float = 10.0,
        run_timeout_s: float = 180.0,
    ) -> None:
        self.target = target.rstrip("/")
        parts = urlsplit(self.target)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parts.netloc}{parts.path}/ws"
        self.thresholds = thresholds
        self.given_user = user
        self.given_user2 = user2
        self.provided_token = token
        self.concurrency = concurrency
        self.request_timeout_s = request_timeout_s
        self.run_timeout_s = run_timeout_s
        self.checks: list[Check] = []
        self.health: dict[str, Any] | None = None
        self.dependencies: dict[str, dict[str, Any]] = {}
        self.reachable = False
        self.frame_validator: Any = None
        self.users: list[Session] = []
        self.extra_users: list[Session] = []
        # Numbers a passing probe leaves for report.json (check name → data).
        self.measured: dict[str, dict[str, Any]] = {}
        self.signup_open = True
        self.second_user_problem: str | None = None
        self.traces: list[RunTrace] = []
        self.http: httpx.AsyncClient | None = None

    # --- running checks --------------------------------------------------------------------

    async def check(
        self, name: str, kind: str, probe: Callable[[], Awaitable[str | None]], retry: bool = True
    ) -> Check:
        attempts: list[bool] = []
        tries = 1 + (self.thresholds.retries if retry else 0)
        result: Check | None = None
        for _ in range(tries):
            start = time.perf_counter()
            try:
                message = await probe()
            except ProbeSkipped as skip:
                result = Check(name, kind, "skipped", 0.0, str(skip))
                break
            except ProbeFailed as f:
                ms = (time.perf_counter() - start) * 1000
                attempts.append(False)
                result = Check(
                    name,
                    kind,
                    "failed",
                    ms,
                    f.message,
                    f.subject,
                    f.signals,
                    f.evidence,
                    data=f.data,
                )
                continue
            except Exception as exc:  # an unexpected error of the target, classified
                ms = (time.perf_counter() - start) * 1000
                attempts.append(False)
                sig = exception_signals(exc)
                result = Check(
                    name,
                    kind,
                    "failed",
                    ms,
                    f"{type(exc).__name__}: {exc}",
                    "target",
                    sig,
                    [f"{type(exc).__name__}: {exc}"],
                )
                continue
            ms = (time.perf_counter() - start) * 1000
            attempts.append(True)
            result = Check(name, kind, "passed", ms, message, data=self.measured.pop(name, {}))
            break
        assert result is not None
        result.attempts = attempts
        self.checks.append(result)
        return result

    def skip_rest(self, names: list[tuple[str, str]], reason: str) -> None:
        for name, kind in names:
            self.checks.append(Check(name, kind, "skipped", 0.0, reason))

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.target, timeout=self.request_timeout_s) as http:
            self.http = http
            await self.check("health.ready", "health", self.probe_health, retry=False)
            if not self.reachable:
                self.skip_rest(PRODUCT_CHECKS, "target unreachable at start")
                return
            for name, dep in (self.health or {}).get("checks", {}).items():
                await self.check(
                    f"dependency.{name}",
                    "dependency",
                    self._dependency_probe(name, dep),
                    retry=False,
                )
            await self.check("auth.login", "auth", self.probe_login)
            if not self.users or not self.users[0].access_token:
                self.skip_rest(PRODUCT_CHECKS[1:], "no access token (auth.login failed)")
                return
            await self.check("auth.validate", "auth", self.probe_validate)
            await self.check("auth.validate_rejects_invalid", "auth", self.probe_validate_bad)
            if self.provided_token:
                await self.check("auth.provided_token", "auth", self.probe_provided_token)
            await self.check("ws.handshake_accepts_valid_token", "ws", self.probe_ws_accept)
            await self.check("ws.handshake_refuses_invalid_token", "ws", self.probe_ws_refuse)
            await self.check("golden_path", "golden_path", self.probe_golden_path)
            await self.check("golden_path.concurrent", "concurrency", self.probe_concurrent)
            await self.check("golden_path.timing", "golden_path", self.probe_timing, retry=False)
            await self.check("isolation", "isolation", self.probe_isolation)
            await self.check("resume", "resume", self.probe_resume)

    # --- health ----------------------------------------------------------------------------

    async def probe_health(self) -> str:
        assert self.http is not None
        try:
            resp = await self.http.get("/health/ready")
        except httpx.HTTPError as exc:
            raise ProbeFailed(
                f"target {self.target} unreachable: {net_classify(exc).message}",
                signals=exception_signals(exc),
                evidence=[f"GET {self.target}/health/ready raised {type(exc).__name__}: {exc}"],
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "checks" not in body:
            raise ProbeFailed(
                f"/health/ready answered {resp.status_code} without a health body",
                signals=response_signals(resp),
                evidence=[quote_response("GET", "/health/ready", resp)],
            )
        self.reachable = True
        broken = health_contract_problems(resp.status_code, body)
        if not isinstance(body["checks"], dict) or not all(
            isinstance(d, dict) for d in body["checks"].values()
        ):
            raise ProbeFailed(
                f"/health/ready body breaks the DESIGN §4 contract: {'; '.join(broken)}",
                signals=["health.contract", *response_signals(resp)],
                evidence=[quote_response("GET", "/health/ready", resp)],
            )
        self.health = body
        for name, dep in body["checks"].items():
            self.dependencies[name] = {
                **dep,
                "threshold_ms": self.thresholds.latency_ms(name),
            }
        down = [n for n, d in body["checks"].items() if d.get("status") == "unhealthy"]
        # A 503 naming no unhealthy dependency is a contract break, reported below.
        if (resp.status_code == 503 or body.get("status") == "unhealthy") and (
            down or not broken
        ):
            subject = down[0] if down else "target"
            dep = body["checks"].get(subject, {})
            raise ProbeFailed(
                f"target unhealthy ({resp.status_code}): {', '.join(down) or '?'} unhealthy",
                signals=_dependency_signals(dep),
                evidence=[_health_quote(resp.status_code, subject, dep)],
                subject=subject,
            )
        if broken:
            raise ProbeFailed(
                f"/health/ready body breaks the DESIGN §4 contract: {'; '.join(broken)}",
                signals=["health.contract", *response_signals(resp)],
                evidence=[quote_response("GET", "/health/ready", resp)],
            )
        return f"{body.get('status')} ({resp.status_code})"

    def _dependency_probe(self, name: str, dep: dict[str, Any]) -> Callable[[], Awaitable[str]]:
        async def probe() -> str:
            status = dep.get("status")
            latency = float(dep.get("latency_ms") or 0)
            limit = self.thresholds.latency_ms(name)
            quote = _health_quote(200, name, dep)
            if status == "unhealthy":
                err = dep.get("error") or {}
                raise ProbeFailed(
                    f"{name} ({dep.get('backend')}) unhealthy: "
                    f"{err.get('kind', '?')}: {err.get('message', 'no error given')}",
                    signals=_dependency_signals(dep),
                    evidence=[quote],
                    subject=name,
                    data={"latency_ms": latency},
                )
            if status == "degraded" or latency > limit:
                raise ProbeFailed(
                    f"{name} ({dep.get('backend')}) {status}: latency {latency:.0f} ms "
                    f"(threshold {limit:.0f} ms)",
                    signals=[*_dependency_signals(dep), "latency:above_threshold"]
                    if latency > limit
                    else _dependency_signals(dep),
                    evidence=[quote],
                    subject=name,
                    data={"latency_ms": latency},
                )
            return f"{status}, {latency:.1f} ms (threshold {limit:.0f} ms)"

        return probe

    # --- auth ------------------------------------------------------------------------------

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.http is not None
        try:
            return await self.http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProbeFailed(
                f"POST {path} failed: {net_classify(exc).message}",
                signals=exception_signals(exc),
                evidence=[f"POST {path} raised {type(exc).__name__}: {exc}"],
            ) from exc

    async def _register(self) -> Session:
        email = f"verify-{uuid.uuid4().hex[:12]}@verify.tokenomist.dev"
        password = f"Vf-{uuid.uuid4().hex}"
        resp = await self._post("/auth/register", json={"email": email, "password": password})
        if resp.status_code != 201:
            raise ProbeFailed(
                f"POST /auth/register → {resp.status_code} (needed a verification user; pass "
                "--user/--password or --user2/--password2 when sign-up is disabled)",
                signals=response_signals(resp),
                evidence=[quote_response("POST", "/auth/register", resp)],
            )
        body = _json(resp)
        return Session(
            email, password, body.get("access_token"), (body.get("user") or {}).get("id")
        )

    async def _login(self, session: Session) -> Session:
        resp = await self._post(
            "/auth/login", json={"email": session.email, "password": session.password}
        )
        body = _json(resp)
        if resp.status_code != 200 or not body.get("access_token"):
            raise ProbeFailed(
                f"POST /auth/login as {session.email} → {resp.status_code}",
                signals=response_signals(resp),
                evidence=[quote_response("POST", "/auth/login", resp)],
            )
        session.access_token = body["access_token"]
        session.user_id = (body.get("user") or {}).get("id")
        return session

    async def probe_login(self) -> str:
        self.users = []
        first = Session(*self.given_user) if self.given_user else await self._register()
        self.users = [await self._login(first)]
        try:
            second = Session(*self.given_user2) if self.given_user2 else await self._register()
        except ProbeFailed as exc:
            # Without a second user only isolation cannot run; it says so (skipped).
            self.second_user_problem = exc.message
            self.signup_open = False
            return f"logged in as {first.email} (no second user: {exc.message})"
        self.users.append(await self._login(second))
        return f"logged in as {first.email} and {second.email}"

    async def _validate(self, token: str) -> httpx.Response:
        return await self._post(
            "/auth/validate-token-and-get-user", headers={"Authorization": f"Bearer {token}"}
        )

    async def probe_validate(self) -> str:
        user = self.users[0]
        assert user.access_token is not None
        resp = await self._validate(user.access_token)
        body = _json(resp)
        if resp.status_code != 200 or body.get("valid") is not True:
            raise ProbeFailed(
                f"a fresh access token was not accepted: {resp.status_code}",
                signals=response_signals(resp),
                evidence=[quote_response("POST", "/auth/validate-token-and-get-user", resp)],
            )
        email = (body.get("user") or {}).get("email")
        if email != user.email:
            raise ProbeFailed(
                f"validate returned user {email!r}, logged in as {user.email!r}",
                evidence=[quote_response("POST", "/auth/validate-token-and-get-user", resp)],
            )
        return f"valid, user {email}"

    async def probe_validate_bad(self) -> str:
        resp = await self._validate("not-a-jwt." + uuid.uuid4().hex)
        body = _json(resp)
        if resp.status_code != 401 or body.get("valid") is not False:
            raise ProbeFailed(
                f"an invalid token was answered {resp.status_code}, expected 401 valid=false",
                signals=response_signals(resp),
                evidence=[quote_response("POST", "/auth/validate-token-and-get-user", resp)],
            )
        return f"refused: {(body.get('error') or {}).get('code')}"

    async def probe_provided_token(self) -> str:
        assert self.provided_token is not None
        resp = await self._validate(self.provided_token)
        if resp.status_code == 200 and _json(resp).get("valid") is True:
            return "the provided token is accepted"
        fresh_ok = any(c.name == "auth.validate" and c.status == "passed" for c in self.checks)
        signals = ["auth:provided_token_rejected", *response_signals(resp)]
        if fresh_ok:
            signals.append("auth:fresh_token_accepted")
        raise ProbeFailed(
            f"the provided token was refused ({resp.status_code}) while a token issued by the "
            f"target itself {'validates' if fresh_ok else 'also fails'}",
            signals=signals,
            evidence=[quote_response("POST", "/auth/validate-token-and-get-user", resp)],
        )

    # --- WebSocket -------------------------------------------------------------------------

    def _connect(self, token: str) -> Any:
        return connect(
            self.ws_url,
            subprotocols=[SUBPROTOCOL, f"bearer.{token}"],  # type: ignore[list-item]
            open_timeout=self.request_timeout_s,
            max_size=2**22,
        )

    async def _validator(self) -> Any:
        """A compiled validator for the server frames of GET /api/v1/protocol (built once:
        re-checking the schema on every frame costs more than the run itself)."""
        if self.frame_validator is None:
            assert self.http is not None
            resp = await self.http.get("/api/v1/protocol")
            body = _json(resp)
            if resp.status_code != 200 or "server" not in body:
                raise ProbeFailed(
                    f"GET /api/v1/protocol → {resp.status_code} without a server frame schema",
                    signals=response_signals(resp),
                    evidence=[quote_response("GET", "/api/v1/protocol", resp)],
                )
            schema = body["server"]
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self.frame_validator = cls(schema)
        return self.frame_validator

    async def _validate_frame(self, frame: dict[str, Any]) -> None:
        validator = await self._validator()
        # With an OpenAPI-style discriminator, validate against the frame type's own schema:
        # "'agent' is a required property" beats "not valid under any of the given schemas".
        disc = validator.schema.get("discriminator") or {}
        ref = (disc.get("mapping") or {}).get(frame.get(disc.get("propertyName", "type")))
        if ref:
            validator = validator.evolve(schema={"$ref": ref, "$defs": validator.schema["$defs"]})
        error = jsonschema.exceptions.best_match(validator.iter_errors(frame))
        if error is not None:
            raise ProbeFailed(
                f"frame {frame.get('type')!r} violates the published schema: {error.message}",
                signals=["schema:violation"],
                evidence=[f"frame {json.dumps(frame)[:400]}", f"schema error: {error.message}"],
            )

    async def _recv(self, ws: ClientConnection, deadline: float) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeFailed(
                f"no terminal event within {self.run_timeout_s:g}s",
                signals=["timed out waiting for run events"],
            )
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=left)
        except TimeoutError as exc:
            raise ProbeFailed(
                f"no event within {self.run_timeout_s:g}s", signals=["timed out"]
            ) from exc
        except ConnectionClosed as exc:
            sig = exception_signals(exc)
            raise ProbeFailed(
                f"socket closed mid-run: {sig[-1]}", signals=sig, evidence=[sig[-1]]
            ) from exc
        frame = json.loads(raw)
        await self._validate_frame(frame)
        return frame

    async def _open(self, session: Session) -> tuple[Any, ClientConnection, dict[str, Any]]:
        assert session.access_token is not None
        cm = self._connect(session.access_token)
        try:
            ws = await cm.__aenter__()
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            sig = exception_signals(exc)
            raise ProbeFailed(
                f"WebSocket handshake with a valid token failed: {type(exc).__name__}: {exc}",
                signals=sig,
                evidence=[f"connect {self.ws_url}: {type(exc).__name__}: {exc}"],
            ) from exc
        try:
            hello = await self._recv(ws, time.monotonic() + self.request_timeout_s)
        except BaseException:
            await cm.__aexit__(None, None, None)
            raise
        return cm, ws, hello

    async def probe_ws_accept(self) -> str:
        cm, ws, hello = await self._open(self.users[0])
        try:
            if ws.subprotocol != SUBPROTOCOL:
                raise ProbeFailed(
                    f"server selected subprotocol {ws.subprotocol!r}, expected {SUBPROTOCOL}",
                    evidence=[f"Sec-WebSocket-Protocol: {ws.subprotocol}"],
                )
            if hello.get("type") != "connection_established":
                raise ProbeFailed(
                    f"first frame {hello.get('type')!r}, expected connection_established",
                    evidence=[json.dumps(hello)[:400]],
                )
        finally:
            await cm.__aexit__(None, None, None)
        return f"accepted, {SUBPROTOCOL}, connection {hello['data'].get('connection_id')}"

    async def probe_ws_refuse(self) -> str:
        try:
            async with self._connect("invalid." + uuid.uuid4().hex):
                pass
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                return f"refused in the handshake with {status}"
            raise ProbeFailed(
                f"invalid token refused with {status}, expected 401/403",
                signals=exception_signals(exc),
                evidence=[f"handshake → {status} {exc.response.body[:200]!r}"],
            ) from exc
        raise ProbeFailed(
            "a WebSocket with an invalid token was ACCEPTED (auth fails open)",
            evidence=[f"connect {self.ws_url} with bearer.invalid… → accepted"],
        )

    async def _run(self, session: Session, message: str = GOLDEN_QUESTION) -> RunTrace:
        cm, ws, _ = await self._open(session)
        try:
            started = time.monotonic()
            deadline = started + self.run_timeout_s
            await ws.send(json.dumps({"type": "user_message", "content": message}))
            trace = RunTrace(None)
            while True:
                frame = await self._recv(ws, deadline)
                _raise_on_error_frame(frame)
                if frame.get("run_id") is None:
                    continue
                if trace.run_id is None:
                    trace.run_id = frame["run_id"]
                    trace.time_to_first_event_ms = (time.monotonic() - started) * 1000
                trace.events.append(frame)
                if frame["type"] in TERMINAL and frame["run_id"] == trace.run_id:
                    trace.time_to_completion_ms = (time.monotonic() - started) * 1000
                    break
        finally:
            await cm.__aexit__(None, None, None)
        check_order(trace.events)
        self.traces.append(trace)
        return trace

    async def probe_golden_path(self) -> str:
        trace = await self._run(self.users[0])
        self.measured["golden_path"] = {
            "events": len(trace.events),
            "time_to_first_event_ms": round(trace.time_to_first_event_ms or 0, 1),
            "time_to_completion_ms": round(trace.time_to_completion_ms or 0, 1),
        }
        return (
            f"{len(trace.events)} events in order; first after "
            f"{trace.time_to_first_event_ms:.0f} ms, completed after "
            f"{trace.time_to_completion_ms:.0f} ms"
        )

    async def _concurrency_users(self, n: int) -> list[Session]:
        """One user per concurrent golden path where sign-up allows (N people asking at once,
        each within the per-user run limit); else the given users round-robin."""
        while len(self.extra_users) + len(self.users) < n and self.signup_open:
            try:
                self.extra_users.append(await self._register())
            except ProbeFailed:
                self.signup_open = False
        pool = self.users + self.extra_users
        return [pool[i % len(pool)] for i in range(n)]

    async def probe_concurrent(self) -> str:
        n = self.concurrency
        sessions = await self._concurrency_users(n)
        results = await asyncio.gather(*(self._run(s) for s in sessions), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        users = len({s.email for s in sessions})
        if failed:
            first = failed[0]
            if isinstance(first, ProbeFailed):
                raise ProbeFailed(
                    f"{len(failed)}/{n} concurrent golden paths ({users} users) failed; "
                    f"first: {first.message}",
                    signals=first.signals,
                    evidence=first.evidence,
                )
            raise first
        ids = {r.run_id for r in results if isinstance(r, RunTrace)}
        if len(ids) != n:
            raise ProbeFailed(f"{n} concurrent runs produced {len(ids)} distinct run ids")
        return f"{n} concurrent golden paths completed ({users} users)"

    async def probe_timing(self) -> str:
        done = [t for t in self.traces if t.time_to_completion_ms is not None]
        need = self.thresholds.min_samples
        if len(done) < need:
            raise ProbeSkipped(f"too few samples: {len(done)} completed runs, need {need}")
        first = sorted(t.time_to_first_event_ms or 0 for t in done)
        total = sorted(t.time_to_completion_ms or 0 for t in done)
        p95_first, p95_total = _p95(first), _p95(total)
        message = (
            f"p95 time to first event {p95_first:.0f} ms (limit "
            f"{self.thresholds.time_to_first_event_ms:.0f}), to completion {p95_total:.0f} ms "
            f"(limit {self.thresholds.time_to_completion_ms:.0f}) over {len(done)} runs"
        )
        self.measured["golden_path.timing"] = {
            "samples": len(done),
            "p95_time_to_first_event_ms": round(p95_first, 1),
            "p95_time_to_completion_ms": round(p95_total, 1),
        }
        if (
            p95_first > self.thresholds.time_to_first_event_ms
            or p95_total > self.thresholds.time_to_completion_ms
        ):
            raise ProbeFailed(message, signals=["latency:above_threshold"], evidence=[message])
        return message

    async def probe_isolation(self) -> str:
        if len(self.users) < 2:
            raise ProbeSkipped(f"needs a second user: {self.second_user_problem}")
        a, b = self.users[0], self.users[1]
        trace_a, trace_b = await asyncio.gather(self._run(a), self._run(b))
        # Each socket saw only its own run (foreign run_ids would have been collected above
        # and fail here), and B cannot resume A's run.
        for who, trace in (("A", trace_a), ("B", trace_b)):
            foreign = {e["run_id"] for e in trace.events} - {trace.run_id}
            if foreign:
                raise ProbeFailed(
                    f"user {who} received events of another run: {sorted(foreign)}",
                    evidence=[json.dumps(trace.events[0])[:300]],
                )
        cm, ws, _ = await self._open(b)
        try:
            await ws.send(json.dumps({"type": "resume", "run_id": trace_a.run_id, "after_seq": 0}))
            frame = await self._recv(ws, time.monotonic() + self.request_timeout_s)
        finally:
            await cm.__aexit__(None, None, None)
        if frame.get("type") != "error" or frame["data"].get("code") != "not_found":
            raise ProbeFailed(
                "user B resuming user A's run was answered "
                f"{frame.get('type')} {frame.get('data')}, expected error not_found",
                evidence=[json.dumps(frame)[:400]],
            )
        return "each user saw only its own run; resuming another user's run → not_found"

    async def probe_resume(self) -> str:
        session = self.users[0]
        cm, ws, _ = await self._open(session)
        seen: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + self.run_timeout_s
            await ws.send(json.dumps({"type": "user_message", "content": GOLDEN_QUESTION}))
            while len(seen) < 2:
                frame = await self._recv(ws, deadline)
                _raise_on_error_frame(frame)
                if frame.get("run_id"):
                    seen.append(frame)
        finally:
            await cm.__aexit__(None, None, None)  # drop the socket mid-run
        run_id, after = seen[0]["run_id"], seen[-1]["seq"]
        cm, ws, _ = await self._open(session)
        rest: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + self.run_timeout_s
            await ws.send(json.dumps({"type": "resume", "run_id": run_id, "after_seq": after}))
            while True:
                frame = await self._recv(ws, deadline)
                _raise_on_error_frame(frame, "resume")
                if frame.get("run_id") != run_id:
                    continue
                rest.append(frame)
                if frame["type"] in TERMINAL:
                    break
        finally:
            await cm.__aexit__(None, None, None)
        seqs = [f["seq"] for f in rest]
        if seqs != list(range(after + 1, after + 1 + len(seqs))):
            raise ProbeFailed(
                f"resume after seq {after} replayed seqs {seqs[:10]}…: gap or duplicate",
                evidence=[f"seqs after resume: {seqs}"],
            )
        check_order(seen + rest)
        return f"resumed after seq {after}: {len(rest)} events, no gap, no duplicate"


PRODUCT_CHECKS = [
    ("auth.login", "auth"),
    ("auth.validate", "auth"),
    ("auth.validate_rejects_invalid", "auth"),
    ("ws.handshake_accepts_valid_token", "ws"),
    ("ws.handshake_refuses_invalid_token", "ws"),
    ("golden_path", "golden_path"),
    ("golden_path.concurrent", "concurrency"),
    ("golden_path.timing", "golden_path"),
    ("isolation", "isolation"),
    ("resume", "resume"),
]


def check_order(events: list[dict[str, Any]]) -> None:
    """The DESIGN §1 step 4 order: run_started, per agent agent_started → agent_thinking (≥1)
    → (tool_executing → tool_completed)* → agent_completed, then assistant_message and
    run_completed; seq gap-free from 1."""
    types = [e["type"] for e in events]
    seqs = [e.get("seq") for e in events]
    evidence = [f"event sequence: {' '.join(types)}"]
    if seqs != list(range(1, len(events) + 1)):
        raise ProbeFailed(f"seq not gap-free from 1: {seqs[:20]}", evidence=evidence)
    if not types or types[0] != "run_started":
        raise ProbeFailed(f"first run event {types[:1]}, expected run_started", evidence=evidence)
    if types[-1] == "run_failed":
        data = events[-1].get("data", {})
        raise ProbeFailed(
            f"run failed: {data.get('code')}: {data.get('message')}",
            signals=[str(data.get("code")), str(data.get("message"))],
            evidence=[*evidence, json.dumps(events[-1])[:300]],
        )
    if types[-2:] != ["assistant_message", "run_completed"]:
        raise ProbeFailed(
            f"run ends with {types[-2:]}, expected assistant_message, run_completed",
            evidence=evidence,
        )
    body, k, agents = types[1:-2], 0, 0
    while k < len(body):
        if body[k] != "agent_started":
            raise ProbeFailed(
                f"expected agent_started at #{k + 2}, got {body[k]}", evidence=evidence
            )
        k += 1
        if k >= len(body) or body[k] != "agent_thinking":
            got = body[k] if k < len(body) else "nothing"
            raise ProbeFailed(
                f"agent_started followed by {got}, expected agent_thinking", evidence=evidence
            )
        open_tools = 0
        while k < len(body) and body[k] != "agent_completed":
            t = body[k]
            if t == "tool_executing":
                if open_tools:
                    raise ProbeFailed(
                        "tool_executing before the previous tool_completed", evidence=evidence
                    )
                open_tools = 1
            elif t == "tool_completed":
                if not open_tools:
                    raise ProbeFailed("tool_completed without tool_executing", evidence=evidence)
                open_tools = 0
            elif t not in ("agent_thinking", "agent_error"):
                raise ProbeFailed(f"unexpected {t} inside an agent", evidence=evidence)
            k += 1
        if k >= len(body):
            raise ProbeFailed("an agent never completed (no agent_completed)", evidence=evidence)
        if open_tools:
            raise ProbeFailed("a tool_executing without tool_completed", evidence=evidence)
        agents += 1
        k += 1
    if agents == 0:
        raise ProbeFailed("no agent ran", evidence=evidence)


def _raise_on_error_frame(frame: dict[str, Any], during: str = "user_message") -> None:
    if frame.get("type") != "error":
        return
    data = frame.get("data") or {}
    raise ProbeFailed(
        f"{during} answered error {data.get('code')}: {data.get('message')}",
        signals=[str(data.get("code")), str(data.get("message"))],
        evidence=[json.dumps(frame)[:400]],
    )


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    idx = max(0, round(0.95 * len(values)) - 1)
    return sorted(values)[idx]


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


HEALTH_STATUSES = ("healthy", "degraded", "unhealthy")
HEALTH_DEPENDENCIES = ("database", "cache", "analytics")


def health_contract_problems(status_code: int, body: dict[str, Any]) -> list[str]:
    """What a /health/ready answer lacks against DESIGN §4 (empty when it conforms): the
    status words, the three dependency checks with status/backend/latency_ms, and 503 exactly
    when unhealthy."""
    problems: list[str] = []
    status = body.get("status")
    if status not in HEALTH_STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(HEALTH_STATUSES)}")
    elif (status == "unhealthy") != (status_code == 503):
        problems.append(f"status {status} answered with HTTP {status_code}")
    checks = body.get("checks")
    if not isinstance(checks, dict):
        return [*problems, f"checks is {type(checks).__name__}, not an object"]
    for name in HEALTH_DEPENDENCIES:
        dep = checks.get(name)
        if not isinstance(dep, dict):
            problems.append(f"checks.{name} {'missing' if dep is None else 'not an object'}")
            continue
        missing = [k for k in ("status", "backend", "latency_ms") if k not in dep]
        if missing:
            problems.append(f"checks.{name} lacks {', '.join(missing)}")
        elif dep["status"] not in HEALTH_STATUSES:
            problems.append(f"checks.{name}.status {dep['status']!r} is not a health status")
    return problems


def _dependency_signals(dep: dict[str, Any]) -> list[str]:
    out = [f"health.status:{dep.get('status')}"]
    err = dep.get("error")
    if err:
        out.append(f"health.kind:{err.get('kind')}")
        out.append(str(err.get("message")))
    if dep.get("detail"):
        out.append(str(dep["detail"]))
    return out


def _health_quote(status_code: int, name: str, dep: dict[str, Any]) -> str:
    if dep.get("error"):
        field_, value = f"checks.{name}.error", dep["error"]
    else:
        field_, value = f"checks.{name}", dep
    return f"GET /health/ready → {status_code}: {field_} = {json.dumps(value)}"

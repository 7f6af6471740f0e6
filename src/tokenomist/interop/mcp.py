"""The MCP server at ``/mcp`` (streamable HTTP, the official ``mcp`` SDK's low-level server).

Tools: every analyst tool (same names and JSON schemas as ``GET /api/v1/analyst/tools``, run
through ``analyst.tools.call_tool`` against the caller's org only), plus ``ask`` (a whole
analysis: markdown and structured report) and ``estimate_cost`` (the pricer, no data read).

Auth happens before the SDK sees the request: ``Authorization: Bearer`` with a user access
token or an org API key carrying ``read``; anything else is 401 (403 for a key without
``read``) with ``WWW-Authenticate``. The server is stateless (no MCP session kept between
requests), so every request is authenticated on its own and any instance can answer it.
"""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import mcp_types as types
import orjson
import structlog
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tokenomist import __version__
from tokenomist.analyst import service as analyst_service
from tokenomist.analyst.events import ListSink
from tokenomist.analyst.tools import TOOLS, call_tool, jsonable
from tokenomist.auth import api_keys
from tokenomist.auth import service as auth_service
from tokenomist.auth.principal import Principal
from tokenomist.kit.errors import TokenomistError, Unauthorized
from tokenomist.kit.resources import Resources, get_resources

log = structlog.get_logger(__name__)

PRINCIPAL_KEY = "tokenomist.principal"
_CHALLENGE = 'Bearer realm="tokenomist"'


class EstimateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="e.g. openai, anthropic, google")
    model: str = Field(description="model id as the provider names it, e.g. gpt-4o")
    input_tokens: int = Field(ge=0, description="all input tokens, cached ones included")
    output_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(0, ge=0, description="input tokens read from the cache")
    service_tier: str = Field("standard", description="standard, batch, flex or priority")


class AskArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="e.g. How can we cut our AI spend?")
    thread_id: str | None = Field(None, description="continue this analyst thread")


_EXTRA: dict[str, tuple[str, type[BaseModel]]] = {
    "ask": (
        "Run the analyst on a question about the org's LLM spend; returns its markdown answer "
        "and the structured report (needs a user access token: runs belong to users).",
        AskArgs,
    ),
    "estimate_cost": (
        "USD cost of one call of a model with these token counts, from the price data "
        "(null when the model is not priced).",
        EstimateArgs,
    ),
}


def tool_list() -> list[types.Tool]:
    tools = [
        types.Tool(name=t.name, description=t.description, input_schema=t.schema()["parameters"])
        for t in TOOLS.values()
    ]
    tools += [
        types.Tool(name=name, description=text, input_schema=model.model_json_schema())
        for name, (text, model) in _EXTRA.items()
    ]
    return tools


def _result(data: Any) -> types.CallToolResult:
    value = jsonable(data)
    # structuredContent must be an object; lists and scalars are wrapped as {"result": ...}.
    structured = value if isinstance(value, dict) else {"result": value}
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )


def _error(message: str, details: Any = None) -> types.CallToolResult:
    body = {"error": message} | ({"details": details} if details else {})
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], is_error=True)


async def _analyst_tool(
    resources: Resources, principal: Principal, name: str, args: dict
) -> types.CallToolResult:
    run = {
        "run_id": f"mcp-{uuid.uuid4().hex[:12]}",
        "thread_id": "",
        "user_id": principal.user_id or principal.api_key_id or "",
        "org_id": principal.org_id,
    }
    ctx = analyst_service.build_context(resources, run, ListSink())
    return _result(await call_tool(ctx, "mcp", name, args))


def _estimate(resources: Resources, args: EstimateArgs) -> types.CallToolResult:
    if args.cached_input_tokens > args.input_tokens:
        return _error("cached_input_tokens cannot exceed input_tokens")
    pricer = resources.require_pricer()
    cost = pricer.cost(
        args.provider,
        args.model,
        input_tokens=args.input_tokens,
        cached_input_tokens=args.cached_input_tokens,
        output_tokens=args.output_tokens,
        service_tier=args.service_tier,
    )
    return _result(
        {**args.model_dump(), "cost_usd": cost, "priced": cost is not None}
        | ({} if cost is not None else {"reason": f"{args.provider}/{args.model} is not priced"})
    )


async def _ask(resources: Resources, principal: Principal, args: AskArgs) -> types.CallToolResult:
    handle = await analyst_service.start_run(resources, principal, args.question, args.thread_id)
    # The run publishes its terminal event after recording its outcome: once the stream ends,
    # GET-run has the answer.
    async for event in resources.require_bus().stream(handle.run_id, 0):
        if event.is_terminal:
            break
    run = await analyst_service.get_run(resources, principal, handle.run_id)
    if run.error is not None:
        return _error(f"the analysis {run.status.value}: {run.error.message}", run.error.code)
    return _result(
        {
            "run_id": run.run_id,
            "thread_id": run.thread_id,
            "status": run.status.value,
            "content": run.content,
            "report": run.report,
        }
    )


def build_server() -> Server:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def call(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        scope = ctx.request.scope
        resources: Resources = scope["tokenomist.resources"]
        principal: Principal = scope[PRINCIPAL_KEY]
        args = params.arguments or {}
        try:
            if params.name == "estimate_cost":
                return _estimate(resources, EstimateArgs.model_validate(args))
            if params.name == "ask":
                return await _ask(resources, principal, AskArgs.model_validate(args))
            return await _analyst_tool(resources, principal, params.name, args)
        except ValidationError as exc:
            return _error(
                f"invalid arguments for tool {params.name}",
                [
                    {"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                    for e in exc.errors()
                ],
            )
        except TokenomistError as exc:
            return _error(exc.message, getattr(exc, "details", None))

    return Server(
        "tokenomist",
        version=__version__,
        instructions="Tokenomist: your org's LLM usage, spend and savings plan.",
        on_list_tools=list_tools,
        on_call_tool=call,
    )


class McpService:
    """The running MCP server of this process (``resources.mcp``): the SDK's session manager,
    whose task group lives from the app's start-up to its shutdown."""

    def __init__(self) -> None:
        self.manager = StreamableHTTPSessionManager(
            app=build_server(), stateless=True, json_response=True
        )
        self._stack = AsyncExitStack()

    async def start(self) -> None:
        await self._stack.enter_async_context(self.manager.run())

    async def stop(self) -> None:
        await self._stack.aclose()


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    challenge = _CHALLENGE
    if code == "insufficient_scope":
        challenge += ', error="insufficient_scope", scope="read"'
    elif code != "not_authenticated":
        challenge += ', error="invalid_token"'
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"WWW-Authenticate": challenge},
    )


async def authenticate(resources: Resources, request: Request) -> Principal | JSONResponse:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refusal(
            401, "not_authenticated", "Authorization: Bearer <access token or API key> required"
        )
    token = token.strip()
    try:
        async with resources.sessions() as session:
            if api_keys.looks_like_key(token):
                principal = await auth_service.authenticate_api_key(resources, session, token)
            else:
                principal = await auth_service.authenticate_user_token(resources, session, token)
    except Unauthorized as exc:
        return _refusal(401, exc.code, exc.message)
    if "read" not in principal.scopes:
        return _refusal(403, "insufficient_scope", "this credential lacks the 'read' scope")
    return principal


class McpEndpoint:
    """ASGI app behind the ``/mcp`` route: authenticate, then hand over to the SDK."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        resources = get_resources(request)
        service = resources.mcp
        if service is None:
            response = JSONResponse(
                {"error": {"code": "service_not_running", "message": "MCP is not running"}}, 503
            )
            await response(scope, receive, send)
            return
        outcome = await authenticate(resources, request)
        if isinstance(outcome, JSONResponse):
            await outcome(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = outcome
        scope["tokenomist.resources"] = resources
        await service.manager.handle_request(scope, receive, send)

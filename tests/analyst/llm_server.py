"""A local OpenAI-compatible chat-completions server for the tests (the only fake: a paid
external API). Real HTTP on a free port; its behaviour is switched per test:

- ``answer``: intent requests (``response_format: json_object``) get ``intent`` as JSON;
  narrative requests get a summary citing the spend figure they were sent.
- ``hang``: answers only after ``hang_s`` (tests set the client timeout well below it).
- ``garbage``: 200 with a body that is not a chat completion.
- ``ungrounded``: a narrative citing a dollar amount that is not in the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.support.servers import free_port, serving


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "answer"
        self.hang_s = 2.0
        self.intent: dict[str, Any] | None = None
        # Per question (the question bank): question -> intent; overrides ``intent``.
        self.intent_for: Callable[[str], dict[str, Any]] | None = None
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def completion(self, content: str) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    async def chat(self, request: Request):
        body = await request.json()
        self.requests.append({"body": body, "auth": request.headers.get("authorization")})
        if self.mode == "hang":
            await asyncio.sleep(self.hang_s)
        if self.mode == "garbage":
            return PlainTextResponse("<html>upstream hiccup</html>", status_code=200)
        wants_json = body.get("response_format", {}).get("type") == "json_object"
        if wants_json and self.intent_for is not None:
            question = json.loads(body["messages"][-1]["content"])["question"]
            return JSONResponse(self.completion(json.dumps(self.intent_for(question))))
        if wants_json:
            intent = self.intent or {
                "kind": "optimize",
                "dimension": None,
                "period": {"kind": "default", "days": None},
                "filters": {},
            }
            return JSONResponse(self.completion(json.dumps(intent)))
        brief = json.loads(body["messages"][-1]["content"])
        if self.mode == "ungrounded":
            text = "You could save $999,999.99 a month by switching everything to a free model."
        else:
            text = (
                f"LLM-NARRATIVE: your window spend was ${brief['spend_usd']:,.2f}; start with "
                "the largest saving in the table."
            )
        return JSONResponse(self.completion(text))

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeLLM]:
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        async with serving(app, self.port):
            yield self

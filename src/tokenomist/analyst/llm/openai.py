"""An OpenAI-compatible chat-completions client (OpenAI, Azure-style gateways, vLLM, Ollama,
LiteLLM…): ``POST {base_url}/chat/completions`` with a bearer key, bounded by a timeout."""

from __future__ import annotations

import asyncio
import json

import httpx

from tokenomist.analyst.llm.base import LLMError
from tokenomist.kit.netdiag import classify, mask_url


class OpenAICompatible:
    name = "openai"
    enabled = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def describe(self) -> str:
        return f"{self.model} at {mask_url(self.base_url)}"

    async def complete(self, system: str, user: str, *, json_object: bool = False) -> str:
        url = f"{self.base_url}/chat/completions"
        body: dict = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        }
        if json_object:
            body["response_format"] = {"type": "json_object"}
        where = f"language model at {mask_url(self.base_url)}"
        try:
            # httpx bounds each phase; the overall bound keeps a trickling server in check.
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.post(url, json=body)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise LLMError(f"{where} did not answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"{where} unreachable: {classify(exc).message}") from exc
        if response.status_code != 200:
            raise LLMError(f"{where} answered HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{where} returned a malformed completion") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError(f"{where} returned an empty completion")
        return content

    async def close(self) -> None:
        await self._client.aclose()

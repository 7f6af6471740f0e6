"""The provider interface. A provider turns (system, user) text into text, or raises
``LLMError`` with a reason a person can read ("timeout after 2 s", "HTTP 502 from …")."""

from __future__ import annotations

from typing import Protocol


class LLMError(Exception):
    """The model did not give a usable answer; the caller falls back to the rules."""


class LLMProvider(Protocol):
    name: str  # "none" | "openai"
    model: str
    enabled: bool

    def describe(self) -> str: ...

    async def complete(self, system: str, user: str, *, json_object: bool = False) -> str: ...

    async def close(self) -> None: ...


class NoLLM:
    name = "none"
    model = ""
    enabled = False

    def describe(self) -> str:
        return "none"

    async def complete(self, system: str, user: str, *, json_object: bool = False) -> str:
        raise LLMError("no language model is configured (TOKENOMIST_LLM=none)")

    async def close(self) -> None:
        return None

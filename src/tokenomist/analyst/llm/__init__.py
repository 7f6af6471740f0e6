"""Optional language model: ``none`` (deterministic wording from the data) or an
OpenAI-compatible chat-completions API. Any failure degrades to the deterministic path."""

from __future__ import annotations

from tokenomist.analyst.llm.base import LLMError, LLMProvider, NoLLM
from tokenomist.analyst.llm.openai import OpenAICompatible


def build_provider(settings) -> LLMProvider:
    kind = (settings.llm or "none").strip().lower()
    if kind == "none":
        return NoLLM()
    if kind == "openai":
        if not settings.llm_base_url or not settings.llm_model:
            raise ValueError(
                "TOKENOMIST_LLM=openai needs TOKENOMIST_LLM_BASE_URL and TOKENOMIST_LLM_MODEL"
            )
        return OpenAICompatible(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_s,
        )
    raise ValueError(f"TOKENOMIST_LLM={settings.llm!r} is not one of: none, openai")


__all__ = ["LLMError", "LLMProvider", "NoLLM", "OpenAICompatible", "build_provider"]

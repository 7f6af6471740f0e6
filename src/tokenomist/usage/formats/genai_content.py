"""Request fingerprints from the prompt content a GenAI span carries (hashed, never stored).

Producers capture the request in one of three shapes, read in this order (the first that
yields anything wins, so a span carrying two shapes is not counted twice):

1. OTel GenAI semantic conventions (OpenLIT 1.45, OpenLLMetry 0.62 and LiteLLM 1.110 as
   captured in ``tests/usage/fixtures``): ``gen_ai.system_instructions``,
   ``gen_ai.tool.definitions``, ``gen_ai.input.messages`` — JSON, string-encoded — on the
   span, or on a ``gen_ai.client.inference.operation.details`` span event;
2. older OpenLLMetry/Traceloop and LiteLLM: ``gen_ai.prompt.{i}.role`` /
   ``gen_ai.prompt.{i}.content``, tools as ``llm.request.functions.{i}.*``;
3. span events: ``gen_ai.content.prompt`` (attribute ``gen_ai.prompt``, messages as JSON or a
   bare prompt) or one ``gen_ai.{system,user,assistant,tool}.message`` event per message
   (attribute ``content``). Events exported as OTel *log records* never reach ``/v1/traces``.

Derived: ``request_fingerprint`` = fingerprint(model, system, tools, all input messages);
``prefix_fingerprint`` = fingerprint(model, system, tools, the leading system/developer
messages) — the part a provider cache can serve — when that part is not empty.

``prefix_tokens``: no producer reports the prefix's length. Cache-read tokens are not it (0 on
a first call, rounded to cache blocks after) and neither are the input tokens (they include
the user turn). So it is estimated: ``input_tokens * prefix bytes / request bytes`` (UTF-8 of
the hashed JSON) when the span reports input tokens, which keeps the producer's tokenizer in
the count; else ``prefix bytes / 4`` (about four bytes a token for English text).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tokenomist.usage.records import canonical_bytes, fingerprint

BYTES_PER_TOKEN = 4  # the fallback estimate when the span has no input token count
MAX_LITERAL_BYTES = 64 * 1024  # a Python-repr attribute longer than this stays a string
_PREFIX_ROLES = ("system", "developer")
_MESSAGE_EVENTS = {
    f"gen_ai.{role}.message": role for role in ("system", "user", "assistant", "tool")
}
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_INDEXED = re.compile(r"^(gen_ai\.prompt|llm\.request\.functions)\.(\d+)\.(.+)$")


def decoded(value: Any) -> Any:
    """A JSON list/object sent as a string (span attributes cannot nest, so producers encode
    them: LiteLLM's ``'["length"]'``) decoded; anything else as it is.

    LiteLLM 1.110's ``metadata.usage_object`` is Python's ``str(dict)`` (single quotes,
    ``None``), not JSON: that is read as a Python literal (``ast.literal_eval`` evaluates
    literals only, never code), up to ``MAX_LITERAL_BYTES``."""
    if not isinstance(value, str) or value[:1] not in ("[", "{"):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        pass
    if len(value) > MAX_LITERAL_BYTES:
        return value
    try:
        out = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value
    return out if isinstance(out, list | dict) else value


@dataclass
class Content:
    system: list[Any] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.system or self.tools or self.messages)

    def prefix(self) -> list[Any]:
        """System instructions, tool definitions and the leading system messages."""
        lead = []
        for m in self.messages:
            if m.get("role") not in _PREFIX_ROLES:
                break
            lead.append(m)
        return [self.system, self.tools, lead] if self.system or self.tools or lead else []


def _as_list(value: Any) -> list[Any]:
    value = decoded(value)
    if value in (None, "", [], {}):
        return []
    return value if isinstance(value, list) else [value]


def _message(value: Any, role: str | None = None) -> dict[str, Any]:
    value = decoded(value)
    if isinstance(value, dict):
        return {"role": value.get("role", role), **{k: v for k, v in value.items() if k != "role"}}
    return {"role": role, "content": value}


def _semconv(sources: Iterable[dict[str, Any]]) -> Content:
    for attrs in sources:
        found = Content(
            system=_as_list(attrs.get("gen_ai.system_instructions")),
            tools=_as_list(attrs.get("gen_ai.tool.definitions")),
            messages=[_message(m) for m in _as_list(attrs.get("gen_ai.input.messages"))],
        )
        if found:
            return found
    return Content()


def _indexed(attrs: dict[str, Any]) -> Content:
    """``gen_ai.prompt.{i}.*`` and ``llm.request.functions.{i}.*``, in index order."""
    groups: dict[str, dict[int, dict[str, Any]]] = {
        "gen_ai.prompt": {},
        "llm.request.functions": {},
    }
    for key, value in attrs.items():
        match = _INDEXED.match(key)
        if match:
            base, i, name = match.groups()
            groups[base].setdefault(int(i), {})[name] = decoded(value)
    messages = [groups["gen_ai.prompt"][i] for i in sorted(groups["gen_ai.prompt"])]
    tools = [groups["llm.request.functions"][i] for i in sorted(groups["llm.request.functions"])]
    return Content(tools=tools, messages=[_message(m) for m in messages])


def _events(events: list[tuple[str, dict[str, Any]]]) -> Content:
    messages: list[dict[str, Any]] = []
    for name, attrs in events:
        if name == "gen_ai.content.prompt" and attrs.get("gen_ai.prompt") not in (None, ""):
            prompt = decoded(attrs["gen_ai.prompt"])
            items = prompt if isinstance(prompt, list) else [prompt]
            messages.extend(_message(m, "user") for m in items)
        elif name in _MESSAGE_EVENTS:
            body = {k: decoded(v) for k, v in attrs.items() if k in ("content", "tool_calls")}
            messages.append({"role": attrs.get("role") or _MESSAGE_EVENTS[name], **body})
    return Content(messages=messages)


def content_of(attrs: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> Content:
    details = [a for n, a in events if n == _DETAILS_EVENT]
    for found in (_semconv([attrs, *details]), _indexed(attrs), _events(events)):
        if found:
            return found
    return Content()


def _size(parts: Any) -> int:
    return len(canonical_bytes(parts))


def fingerprints(
    model: str | None,
    attrs: dict[str, Any],
    events: list[tuple[str, dict[str, Any]]],
    input_tokens: int | None,
) -> dict[str, Any]:
    """``request_fingerprint``, ``prefix_fingerprint`` and ``prefix_tokens`` derived from the
    span's content; empty when it carries none."""
    content = content_of(attrs, events)
    if not content:
        return {}
    whole = [content.system, content.tools, content.messages]
    out: dict[str, Any] = {"request_fingerprint": fingerprint(model, "request", *whole)}
    prefix = content.prefix()
    if prefix:
        out["prefix_fingerprint"] = fingerprint(model, "prefix", *prefix)
        size = _size(prefix)
        if input_tokens:
            out["prefix_tokens"] = min(input_tokens, round(input_tokens * size / _size(whole)))
        else:
            out["prefix_tokens"] = size // BYTES_PER_TOKEN
    return out

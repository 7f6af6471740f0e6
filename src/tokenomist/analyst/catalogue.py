"""The substitution catalogue and strategy thresholds, from ``catalogue.toml`` (shipped
defaults) merged with the user's file (``settings.analyst_catalogue_file``): keys the user
leaves out keep their defaults. A malformed file is refused with the file and key named."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_FILE = Path(__file__).with_name("catalogue.toml")
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")

Level = Literal["low", "medium", "high"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Level = "medium"
    risk: Level = "low"


class Substitution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    model: str
    sibling: str


class RightSizing(_Section):
    max_p90_output_tokens: float = Field(ge=0)
    max_p90_input_tokens: float = Field(ge=0)
    max_reasoning_share: float = Field(ge=0, le=1)
    min_calls: int = Field(ge=1)
    substitutions: list[Substitution]


class CacheProvider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_prefix_tokens: int | None = Field(default=None, ge=1)
    cache_ttl_s: float | None = Field(default=None, gt=0)


class PromptCaching(_Section):
    min_prefix_tokens: int = Field(ge=1)
    cache_ttl_s: float = Field(gt=0)
    providers: dict[str, CacheProvider] = {}

    def min_prefix_for(self, provider: str) -> int:
        p = self.providers.get(provider)
        return p.min_prefix_tokens if p and p.min_prefix_tokens else self.min_prefix_tokens

    def ttl_for(self, provider: str) -> float:
        p = self.providers.get(provider)
        return p.cache_ttl_s if p and p.cache_ttl_s else self.cache_ttl_s


class BatchTier(_Section):
    tiers: list[Literal["batch", "flex"]]
    burst_min_days: int = Field(ge=1)
    burst_max_hours_per_day: float = Field(gt=0)
    burst_min_calls_per_hour: float = Field(ge=0)


class Duplicates(_Section):
    window_s: float = Field(gt=0)


class Truncation(_Section):
    retry_window_s: float = Field(gt=0)
    max_tokens_percentile: float = Field(gt=0, le=1)


class Arbitrage(_Section):
    min_savings_pct: float = Field(ge=0, le=100)
    exclude_providers: list[str] = []


class ReportSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_monthly_savings_usd: float = Field(ge=0)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    report: ReportSection
    model_right_sizing: RightSizing
    prompt_caching: PromptCaching
    batch_tier: BatchTier
    duplicate_requests: Duplicates
    error_waste: _Section
    truncation: Truncation
    provider_arbitrage: Arbitrage

    def section(self, strategy_id: str) -> _Section:
        return getattr(self, strategy_id)

    def sibling(self, provider: str, model: str) -> str | None:
        """The cheaper sibling the catalogue names for this premium model, if any."""
        base = normalise_model(model)
        for s in self.model_right_sizing.substitutions:
            if s.provider == provider and s.model in (model, base):
                return s.sibling
        return None


class CatalogueError(ValueError):
    pass


def normalise_model(model: str) -> str:
    """A model id without its trailing release date (gpt-4o-2024-08-06 -> gpt-4o)."""
    return _DATE_SUFFIX.sub("", model.strip().lower())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogueError(f"analyst catalogue {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"analyst catalogue {path} is unreadable: {exc}") from exc


def load_catalogue(path: Path | None = None) -> Catalogue:
    raw = _read(DEFAULT_FILE)
    if path is not None:
        raw = _merge(raw, _read(path))
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogueError(f"analyst catalogue {path or DEFAULT_FILE}: {problems}") from exc


@lru_cache(maxsize=8)
def _cached(path: Path | None, mtime: float | None) -> Catalogue:
    return load_catalogue(path)


def get_catalogue(path: Path | None) -> Catalogue:
    """The catalogue for this file (re-read when the file changes)."""
    if path is None:
        return _cached(None, None)
    path = Path(path).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = None  # load_catalogue raises the clear error
    return _cached(path, mtime)

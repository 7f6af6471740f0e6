"""The substitution catalogue and strategy thresholds, from ``catalogue.toml`` (shipped
defaults) merged with the user's file (``settings.analyst_catalogue_file``): keys the user
leaves out keep their defaults. A malformed file is refused with the file and key named."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tokenomist.analyst.strategies import ORDER
from tokenomist.analyst.strategies.base import StrategySection

DEFAULT_FILE = Path(__file__).with_name("catalogue.toml")
S = TypeVar("S", bound=StrategySection)


class ReportSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_monthly_savings_usd: float = Field(ge=0)


class Catalogue(BaseModel):
    """The whole file: ``[report]`` and one table per registered strategy, named by its id and
    validated by its ``Section`` (``_MODEL`` adds those fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    report: ReportSection

    def section(self, strategy_id: str, model: type[S]) -> S:
        """A strategy's table, as its own model."""
        value = getattr(self, strategy_id)
        if not isinstance(value, model):
            raise TypeError(f"catalogue table {strategy_id!r} is not a {model.__name__}")
        return value


def _field(section: type[StrategySection]) -> Any:
    """A table is required when its model has a required key; otherwise it may be left out."""
    if any(f.is_required() for f in section.model_fields.values()):
        return ...
    return Field(default_factory=section)


_SECTIONS: dict[str, Any] = {s.ID: (s.Section, _field(s.Section)) for s in ORDER}
_MODEL = create_model("Catalogue", __base__=Catalogue, **_SECTIONS)


class CatalogueError(ValueError):
    pass


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
        return _MODEL.model_validate(raw)
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

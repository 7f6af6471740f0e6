"""One settings object for the whole service (env prefix ``TOKENOMIST_``, ``.env`` supported)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "test"}
MIN_SECRET_BYTES = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    staging = "staging"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOKENOMIST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Environment.development
    data_dir: Path = Path(".tokenomist")
    host: str = "127.0.0.1"
    port: int = 8000

    # Storage tiers. Empty redis/clickhouse URL selects the embedded default.
    database_url: str = ""  # default: sqlite+aiosqlite:///<data_dir>/tokenomist.db
    redis_url: str = ""
    clickhouse_url: str = ""  # default: chDB under <data_dir>/chdb
    chdb_dir: Path | None = None  # override the chDB location (one per process)
    cache_prefix: str = "tk:"
    analytics_database: str = "tokenomist"  # chDB database (a server takes it from its URL)
    analytics_workers: int = Field(default=0, ge=0)  # chDB sessions/threads; 0: min(4, cores)
    analytics_memo_mb: float = Field(default=64, ge=0)  # memoised chDB org reads; 0: off
    auto_migrate: bool = True  # apply SQL migrations and analytics schema steps at start-up
    database_pool_size: int = 10

    # Health and startup.
    health_latency_threshold_ms: float = 500.0
    health_thresholds_ms: dict[str, float] = Field(default_factory=dict)  # per check name
    health_check_timeout_s: float = 2.0
    startup_timeout_s: float = 5.0
    startup_require_cache: bool = False

    # Auth.
    jwt_secret: str = ""
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "tokenomist"
    jwt_audience: str = "tokenomist-api"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 14 * 24 * 3600
    signup_enabled: bool = True
    login_max_failures: int = 5
    login_failure_window_s: int = 300

    # Realtime.
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )

    # Ingestion and analysis.
    max_body_bytes: int = 64 * 1024 * 1024  # ingest routes (records, file import, OTLP)
    price_overrides_file: Path | None = None

    # LLM (optional): "none" or "openai".
    llm: str = "none"
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    llm_timeout_s: float = 20.0

    log_level: str = "INFO"

    # HTTP server limits (kit/server.py, kit/body_limit.py): no client holds a socket or a body
    # past them.
    max_api_body_bytes: int = 1024 * 1024  # every route but the ingest ones
    http_header_timeout_s: float = 10.0  # request head complete within this, else 408 / close
    http_keep_alive_timeout_s: float = 5.0  # idle keep-alive connection closed after this
    http_max_header_line_bytes: int = 8192  # request line or one header line; else 414 / 431
    http_max_headers: int = 128  # more → 431

    # Graceful shutdown (kit/server.py, app.drain): on SIGTERM the instance answers
    # /health/ready 503 "draining", refuses new runs and WebSockets (503), closes open
    # WebSockets with 1012, lets its runs finish for up to drain_timeout_s and fails the rest
    # with run_failed{code: "instance_stopped"}; it keeps serving for at least drain_delay_s so
    # a load balancer's health checks take it out before its port closes.
    drain_timeout_s: float = 30.0
    drain_delay_s: float = 2.0
    # Liveness of the instance behind each run (with Redis): an instance refreshes its key every
    # instance_heartbeat_s; a run whose instance went quiet for 3 beats (kill -9, a lost node)
    # is failed with code "instance_stopped" by another instance, so its readers see it end.
    instance_heartbeat_s: float = 2.0

    # Domain settings: each domain adds its fields under its own marker.
    # --- auth ---
    # Failed logins tolerated per client IP within ``login_failure_window_s`` (per email:
    # ``login_max_failures``). Higher than per email: many users may share one NAT address.
    login_ip_max_failures: int = 30
    # --- usage ---
    demo: bool = False  # seed a demo org + user + synthetic workload at start (prints login)
    # Hash captured prompt content of OTLP GenAI spans into request/prefix fingerprints (the
    # content itself is never stored); off: only explicit ``tokenomist.*_fingerprint`` count.
    usage_derive_fingerprints: bool = True
    # --- analyst ---
    analyst_max_concurrent_runs: int = 3  # per user; more → 429 rate_limited
    analyst_run_timeout_s: float = 300.0  # a run past this fails with code "timeout"
    analyst_catalogue_file: Path | None = None  # substitution catalogue + thresholds (TOML)
    # Relative windows ("last week") end at the org's latest usage record ("data") or the clock.
    analyst_window_anchor: str = "data"
    analyst_default_window_days: int = 30  # window of a question that names none
    # --- realtime ---
    bus_max_events_per_run: int = 10_000  # ring size / stream MAXLEN per run
    bus_ttl_s: int = 24 * 3600  # a run's events are kept this long after its last event
    bus_max_runs: int = 10_000  # runs held in process memory (memory bus / Redis mirror)
    bus_mirror_ttl_s: float = 600.0  # in-process copy of a Redis-stored run, for the fallback
    bus_block_ms: int = 5_000  # XREAD BLOCK slice for live tails of other instances' runs
    bus_redis_max_connections: int = 1_000  # blocking readers hold one connection each
    ws_rate_limit: int = 120  # client frames per user per window (all its connections)
    ws_rate_window_s: float = 60.0
    ws_idle_timeout_s: float = 300.0  # no client frame and nothing followed → close 4408
    ws_max_connections_per_user: int = 20  # open sockets per user and instance; more → 1008
    # --- alerts ---
    alerts_eval_interval_s: float = 60.0  # budgets are also evaluated after each ingest
    alerts_max_attempts: int = 8  # per delivery; then it is marked failed
    alerts_retry_base_s: float = 30.0  # attempt n waits base·2^(n-1): 8 attempts ≈ 64 min
    alerts_delivery_timeout_s: float = 10.0
    # Spend anomalies: a window must pass its expected spend by at least this many dollars;
    # each one found by the evaluator is an anomaly.spend event to every channel of the org.
    alerts_anomaly_min_usd: Annotated[float, Field(gt=0)] = 1.0
    alerts_anomaly_events: bool = True
    # Webhook and Slack URLs may not reach loopback, private, link-local (cloud metadata) or
    # other non-public addresses, checked when a channel is created and again at each delivery
    # on the address actually connected to. Turn on only for receivers on a trusted network.
    alerts_allow_private_urls: bool = False
    # --- verify ---

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: dict) -> dict:
        raw = data.get("allowed_origins") if isinstance(data, dict) else None
        if isinstance(raw, str):
            data["allowed_origins"] = [o.strip() for o in raw.split(",") if o.strip()]
        return data

    @property
    def is_development(self) -> bool:
        return self.environment in (Environment.development, Environment.test)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tokenomist.db').resolve()}"

    @property
    def chdb_path(self) -> Path:
        return (self.chdb_dir or self.data_dir / "chdb").resolve()

    def resolve_jwt_secret(self) -> str:
        """The signing secret: configured, or (development/test only) generated once and kept
        in the data dir with mode 0600 so tokens survive a restart."""
        secret = self.jwt_secret
        if secret and secret.lower() not in PLACEHOLDER_SECRETS:
            if len(secret.encode()) < MIN_SECRET_BYTES and not self.is_development:
                raise ValueError(
                    f"TOKENOMIST_JWT_SECRET is {len(secret.encode())} bytes; "
                    f"{self.environment} needs at least {MIN_SECRET_BYTES}"
                )
            return secret
        if not self.is_development:
            raise ValueError(
                f"TOKENOMIST_JWT_SECRET is missing or a placeholder; {self.environment} refuses "
                f"to start without a random secret of at least {MIN_SECRET_BYTES} bytes"
            )
        path = self.data_dir / "jwt_secret"
        kept = path.read_text().strip() if path.exists() else ""
        if len(kept.encode()) >= MIN_SECRET_BYTES:
            return kept
        self.data_dir.mkdir(parents=True, exist_ok=True)
        generated = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(generated)
        return generated

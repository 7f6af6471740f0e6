from __future__ import annotations

import stat

import pytest

from tokenomist.settings import Settings


def _settings(tmp_path, **kw) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **kw)


def test_development_generates_a_secret_once_with_mode_0600(tmp_path):
    first = _settings(tmp_path).resolve_jwt_secret()
    second = _settings(tmp_path).resolve_jwt_secret()
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("env", ["staging", "production"])
def test_non_development_refuses_short_or_placeholder_secrets(tmp_path, env):
    with pytest.raises(ValueError, match="at least 32"):
        _settings(tmp_path, environment=env, jwt_secret="short-secret").resolve_jwt_secret()
    with pytest.raises(ValueError, match="missing or a placeholder"):
        _settings(tmp_path, environment=env, jwt_secret="changeme").resolve_jwt_secret()
    assert not (tmp_path / "jwt_secret").exists()


def test_env_variables_configure_tiers(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENOMIST_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TOKENOMIST_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TOKENOMIST_HEALTH_THRESHOLDS_MS", '{"database": 200}')
    s = Settings(_env_file=None, data_dir=tmp_path)
    assert s.redis_url == "redis://cache:6379/0"
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.health_thresholds_ms == {"database": 200.0}
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///")


def test_an_empty_kept_secret_file_is_replaced_not_used(tmp_path):
    """A start-up killed between creating the file and writing it must not leave the service
    signing tokens with an empty key."""
    (tmp_path / "jwt_secret").touch(mode=0o600)
    secret = _settings(tmp_path).resolve_jwt_secret()
    assert len(secret.encode()) >= 32
    assert (tmp_path / "jwt_secret").read_text().strip() == secret

"""The one masking function, and the writers that use it: log lines (structlog and the
stdlib records uvicorn writes)."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from tokenomist.kit.logging import configure_logging
from tokenomist.kit.masking import mask_data, mask_secrets
from tokenomist.kit.netdiag import describe

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6OTl9.c2lnbmF0dXJlLXBhcnQ"
KEY = "tk_0123456789ab_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXhxdXV4"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "TOKENOMIST_CLICKHOUSE_URL=http://default:pw-1@ch:8123/tk ./deploy.sh",
            "pw-1",
            "http://default:***@ch:8123/tk ./deploy.sh",
        ),
        ("postgresql+asyncpg://app:p:a:ss@db:5432/x", "p:a:ss", "app:***@db:5432/x"),
        ("redis://:cachepw@cache:6379/0", "cachepw", "redis://:***@cache:6379/0"),
        (f"Authorization: Bearer {KEY}", KEY[16:], "Bearer ***"),
        (f"got token {JWT} from login", JWT, "got token *** from login"),
        (f"X-API-Key: {KEY}", KEY[16:], "tk_0123456789ab_***"),  # the prefix names the key
        ("TOKENOMIST_JWT_SECRET=s3cr3t-value-1 tokenomist serve", "s3cr3t", "SECRET=*** tok"),
        ("DB_PASSWORD='two words' run", "two words", "DB_PASSWORD=*** run"),
        ('export ADMIN_PASSWORD="quoted pw"', "quoted pw", "ADMIN_PASSWORD=***"),
        ("TOKENOMIST_LLM_API_KEY=sk-live-123&x=1", "sk-live-123", "API_KEY=***&x=1"),
        ("tokenomist users create --password=hunter22", "hunter22", "--password=***"),
        ('{"email": "a@b.c", "password": "hunter22"}', "hunter22", '"password": "***"'),
    ],
)
def test_each_kind_of_secret_is_masked_and_the_rest_kept(text: str, secret: str, kept: str):
    masked = mask_secrets(text)
    assert secret not in masked
    assert kept in masked
    assert mask_secrets(masked) == masked  # idempotent: masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=256 input_tokens=10 output_tokens=3",
        "the basic tier; bearer authentication is required",
        "http://127.0.0.1:8000/health/ready answered 200",
        "--user and --password go together (or set both env vars)",
        "mailto:ops@example.com https://host:8123/path@v2",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == text


def test_structures_mask_strings_and_values_of_secret_keys() -> None:
    doc = {"checks": [{"evidence": ["DSN redis://:pw9@c:1/0"]}], "password": "x", "n": 3}
    assert mask_data(doc) == {
        "checks": [{"evidence": ["DSN redis://:***@c:1/0"]}],
        "password": "***",
        "n": 3,
    }


def test_describe_masks_a_password_the_driver_repeats_in_its_message() -> None:
    exc = OSError("could not connect to postgresql://app:hunter22@db:5432/x")
    line = describe("SQL database", "postgresql://app:hunter22@db:5432/x", exc)
    assert "hunter22" not in line and "app:***@db" in line


@pytest.mark.parametrize("as_json", [False, True])
def test_log_lines_carry_no_secret(capsys, as_json: bool) -> None:
    configure_logging("INFO", json=as_json)
    log = structlog.get_logger("test")
    try:
        raise ConnectionError("auth failed for http://default:chpw77@ch:8123/tk")
    except ConnectionError:
        log.exception(
            "dependency.down", url="http://default:chpw77@ch:8123/tk", jwt_secret="abcdefgh"
        )
    log.info("request", authorization=f"Bearer {JWT}", note=f"key {KEY}")
    err = capsys.readouterr().err
    assert "chpw77" not in err and "abcdefgh" not in err
    assert JWT not in err and KEY[16:] not in err
    assert "default:***@ch:8123" in err
    if as_json:
        lines = [json.loads(line) for line in err.splitlines()]
        assert lines[0]["jwt_secret"] == "***" and "Traceback" in lines[0]["exception"]


def test_stdlib_records_uvicorn_writes_are_masked() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        configure_logging("INFO")
        try:
            raise RuntimeError("DSN postgresql://u:pgpw55@db/x refused")
        except RuntimeError:
            logger.error("startup failed for %s", "redis://:rpw66@cache:6379", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = buffer.getvalue()
    assert "pgpw55" not in text and "rpw66" not in text
    assert "redis://:***@cache:6379" in text and "u:***@db/x" in text

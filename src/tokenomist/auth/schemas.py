"""Auth request and response bodies (never the ORM models themselves)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tokenomist.kit.hygiene import CleanInput

Scope = Literal["ingest", "read"]


def normalize_email(value: str) -> str:
    """The stored form of an email: trimmed, NFC, lower-cased. Emails are data, not syntax to
    be interpreted: quotes, SQL fragments and non-ASCII letters pass through unchanged apart
    from this normalization (all queries are parameterized)."""
    return unicodedata.normalize("NFC", value.strip()).lower()


def checked_email(value: str) -> str:
    email = normalize_email(value)
    if len(email) > 320:
        raise ValueError("email must be at most 320 characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in email):
        raise ValueError("email must not contain control characters")
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("email must look like name@domain.tld")
    if len(local) > 64:
        raise ValueError("the part before @ must be at most 64 characters")
    quoted = len(local) >= 2 and local.startswith('"') and local.endswith('"')
    if not quoted and any(ch.isspace() for ch in local):
        raise ValueError("the part before @ must not contain spaces (unless quoted)")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels) or any(ch.isspace() for ch in domain):
        raise ValueError("the domain after @ must look like domain.tld")
    return email


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(checked_email)]


class RegisterIn(CleanInput):
    email: Email
    password: str = Field(max_length=4096)
    name: str | None = Field(default=None, max_length=200)


class LoginIn(CleanInput):
    # Not shape-checked: a malformed email simply matches no account (same 401 as any other).
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class RefreshIn(CleanInput):
    refresh_token: str = Field(max_length=8192)


class ValidateIn(CleanInput):
    token: str | None = Field(default=None, max_length=8192)


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str | None
    role: str
    org: OrgOut
    created_at: datetime


class TokenPairOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int  # seconds until the access token expires


class ValidateOut(BaseModel):
    valid: Literal[True] = True
    user: UserOut
    expires_at: datetime


class ApiKeyCreate(CleanInput):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str  # the whole secret; shown in this response only


class ApiKeyListOut(BaseModel):
    items: list[ApiKeyOut]

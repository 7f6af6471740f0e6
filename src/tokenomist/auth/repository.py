"""Auth queries. Every API-key query takes the caller's ``org_id``: that is the org scope."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from tokenomist.auth.models import ApiKey, Org, RefreshToken, User


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).options(joinedload(User.org)).where(User.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    stmt = select(User).options(joinedload(User.org)).where(User.id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_org_by_name(session: AsyncSession, name: str) -> Org | None:
    stmt = select(Org).where(Org.name == name).order_by(Org.created_at, Org.id).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, *objects: object) -> None:
    session.add_all(objects)
    await session.flush()


# --- refresh-token families ---


async def get_refresh_token(session: AsyncSession, jti: str) -> RefreshToken | None:
    return await session.get(RefreshToken, jti)


async def claim_refresh_token(session: AsyncSession, jti: str, now: datetime) -> bool:
    """Mark a refresh token used, atomically: of two concurrent rotations only one wins."""
    stmt = (
        update(RefreshToken)
        .where(
            RefreshToken.id == jti,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return result.rowcount == 1  # type: ignore[attr-defined]


async def revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)


async def family_revoked(session: AsyncSession, family_id: str) -> bool:
    """Whether a login (refresh family) was ended by logout or reuse detection; its access
    tokens are refused from then on, whatever the cache tier remembers."""
    stmt = (
        select(RefreshToken.id)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def delete_expired_refresh_tokens(session: AsyncSession, user_id: str, now: datetime) -> None:
    """Keep the table bounded: an expired refresh token can never be presented successfully,
    so its row (kept until then for reuse detection) is no longer needed."""
    stmt = delete(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.expires_at < now
    )
    await session.execute(stmt)


# --- org API keys ---


async def get_api_key_by_hash(session: AsyncSession, secret_hash: str) -> ApiKey | None:
    stmt = select(ApiKey).where(ApiKey.secret_hash == secret_hash, ApiKey.revoked_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_api_keys(session: AsyncSession, org_id: str) -> list[ApiKey]:
    stmt = (
        select(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_api_key(session: AsyncSession, org_id: str, key_id: str) -> ApiKey | None:
    stmt = select(ApiKey).where(
        ApiKey.id == key_id, ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def touch_api_key(session: AsyncSession, key_id: str, now: datetime) -> None:
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)

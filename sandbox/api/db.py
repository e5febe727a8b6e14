"""The PostgreSQL pool and the one way a document's status changes (timestamped in its history)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from filot_contract.documents import VerificationStatus
from sandbox.api.settings import ApiSettings

Connection = AsyncConnection[DictRow]


def make_pool(settings: ApiSettings) -> AsyncConnectionPool:
    """A pool that is opened by the app's lifespan; it connects in the background, so the API
    starts (and reports dbConnected=false on /health) while the database is still down."""
    return AsyncConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=settings.db_pool_max,
        open=False,
        timeout=settings.probe_timeout_s * 2,
        kwargs={"row_factory": dict_row, "connect_timeout": max(1, round(settings.probe_timeout_s))},
        name="filot-api",
    )


async def set_status(
    conn: Connection,
    document_id: uuid.UUID | str,
    status: VerificationStatus,
    *,
    at: datetime | None = None,
    detail: str | None = None,
) -> None:
    """Move a document to ``status`` and record the change in its history at ``at`` (default now),
    never earlier than the previous change (a worker's clock may be behind ours)."""
    await conn.execute(
        "UPDATE documents SET verification_status = %s, updated_at = now() WHERE id = %s",
        (status.value, document_id),
    )
    await conn.execute(
        "INSERT INTO document_status_history (document_id, status, changed_at, detail)"
        " SELECT %s, %s, greatest(coalesce(%s, now()), max(changed_at)), %s"
        " FROM document_status_history WHERE document_id = %s",
        (document_id, status.value, at, detail, document_id),
    )


async def fetch_one(conn: Connection, query: str, params: tuple[Any, ...]) -> DictRow | None:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone()


async def fetch_all(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> list[DictRow]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()

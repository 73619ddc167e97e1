"""Can this process use the database? Asked once before a command or a server starts, so that a
store that is missing, unreachable or not migrated is one line saying what to do, not a
traceback from deep inside the first query."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError

from hotswap.storage.engine import create_engine, shown, sqlite_path
from hotswap.storage.migrate import current_revision, head_revision, is_known_revision

MIGRATE = "run `hotswap migrate`"


class DatabaseUnusable(Exception):
    """The database cannot serve; the message names the problem and the fix."""


async def check_database(url: str, *, schema: bool = True, answer_within: float = 10.0) -> None:
    """Raise `DatabaseUnusable` unless the database answers (and, with `schema`, is at the
    newest migration). Creates nothing: an SQLite file that does not exist is not opened, since
    opening it would create it."""
    path = sqlite_path(url)
    if schema and path is not None and not path.exists():
        raise DatabaseUnusable(
            f"no database at {path.resolve()}: {MIGRATE} first to create it, "
            "or set HOTSWAP_DATABASE_URL to the database you meant"
        )
    engine = create_engine(url)
    try:
        async with asyncio.timeout(answer_within), engine.connect() as conn:
            current = await current_revision(conn) if schema else None
    except TimeoutError as exc:
        raise DatabaseUnusable(
            f"the database at {shown(url)} did not answer within {answer_within:g} s: "
            "is it running and reachable from here? (HOTSWAP_DATABASE_URL)"
        ) from exc
    except Exception as exc:  # whatever keeps us from connecting, its reason is the message
        raise DatabaseUnusable(
            f"cannot connect to the database at {shown(url)}: {_reason(exc)} (check HOTSWAP_DATABASE_URL)"
        ) from exc
    finally:
        await engine.dispose()
    if not schema:
        return
    head = head_revision()
    if current is None:
        raise DatabaseUnusable(f"the database at {shown(url)} has no tables: {MIGRATE}")
    if current != head:
        if is_known_revision(current):
            raise DatabaseUnusable(
                f"the database at {shown(url)} is at migration {current}, this HotSwap needs {head}: {MIGRATE}"
            )
        raise DatabaseUnusable(
            f"the database at {shown(url)} is at migration {current}, which this HotSwap does not know "
            "(a newer version migrated it): run that version"
        )


def _reason(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__

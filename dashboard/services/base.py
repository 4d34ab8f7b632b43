"""What every service shares: an engine, the acting person, and transactions run as them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.database import SERVICE_ROLE, Actor, acting_as, create_db_engine
from dashboard.services import catalogue_changes
from dashboard.services.catalogue_changes import Changes
from dashboard.services.errors import ConcurrentChange, EditConflict, InvalidModel, NotAllowed

Row = dict[str, Any]
T = TypeVar("T")


def as_uuid(value: UUID | str, what: str = "id") -> UUID:
    """A UUID from text or a UUID; a clear InvalidModel for anything else."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidModel({what: "is not a valid id"}) from None


def sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


class ActingService:
    """A service whose every call runs as one person under RLS.

    user_id is the acting person's id; None acts as an anonymous visitor, and "service_role" as a
    trusted backend such as a job worker (it bypasses RLS, as Supabase's service key does).
    """

    def __init__(self, db: str | Engine, *, user_id: UUID | str | None):
        self.engine = db if isinstance(db, Engine) else create_db_engine(db)
        self.user_id: Actor = user_id if user_id in (None, SERVICE_ROLE) else as_uuid(user_id, "user_id")

    @contextmanager
    def _transaction(
        self, engine: Engine | None = None, *, snapshot: bool = False, lock: sa.Executable | None = None
    ) -> Iterator[Connection]:
        """A transaction as this person, on self.engine unless another (a read replica) is given; snapshot: one
        snapshot for all its statements; lock: a LOCK TABLE taken before it (acting_as)."""
        with (
            _translate_db_errors(),
            acting_as(engine or self.engine, self.user_id, snapshot=snapshot, lock=lock) as conn,
        ):
            yield conn

    def _changes_since(
        self, writes: int, epoch: str, read: Callable[[Connection, Changes], T]
    ) -> tuple[Changes, T] | None:
        """What the catalogue's writes after the count writes touched, and read(conn, those changes) in the same
        snapshot (the rows a read kept as of writes needs again); None when only a whole read can say (see
        catalogue_changes)."""
        with self._transaction(snapshot=True) as conn:
            changes = catalogue_changes.changed_since(conn, writes, epoch)
            return None if changes is None else (changes, read(conn, changes))

    def _rows(self, statement: sa.Executable, **params: Any) -> list[Row]:
        with self._transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(statement, params)]


@contextmanager
def _translate_db_errors() -> Iterator[None]:
    """Turn the database's refusals into the services' named errors."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        state = sqlstate(exc)
        if state == "42501":
            raise NotAllowed("You are not allowed to do this: only admins can change the catalogue") from None
        if state == "23503":
            raise InvalidModel({"provider_id": "no such provider; pick one from the list"}) from None
        if state == "23505":
            raise EditConflict("Another change to the same record was saved at the same moment; try again") from None
        if state in ("40P01", "40001"):  # deadlock, serialization failure: a busy catalogue, not a broken database
            raise ConcurrentChange(
                "Someone else changed the same models at the same moment, so nothing was saved; try again"
            ) from None
        if state in ("23514", "22P02", "22023", "22001"):
            raise InvalidModel({"record": str(exc.orig).splitlines()[0]}) from None
        raise

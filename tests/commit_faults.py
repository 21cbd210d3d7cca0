"""A commit that fails for real, at the database connection, as on a full disk or a lost PostgreSQL connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError


@contextmanager
def commits_of_orders_fail() -> Iterator[None]:
    """Every transaction that inserted an order fails at its COMMIT, as on a full disk or a lost connection."""

    def note_insert(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ORDERS "):
            conn.info["inserted_order"] = True

    def fail_commit(conn: Connection) -> None:
        if conn.info.pop("inserted_order", False):
            raise OperationalError("COMMIT", None, OSError("disk I/O error"))

    def forget(conn: Connection) -> None:
        conn.info.pop("inserted_order", None)

    hooks = [("before_cursor_execute", note_insert), ("commit", fail_commit), ("rollback", forget)]
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    try:
        yield
    finally:
        for name, hook in hooks:
            event.remove(Engine, name, hook)

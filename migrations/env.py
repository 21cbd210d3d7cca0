"""Alembic environment: runs online against the engine the app hands over, or one built from Settings."""

from alembic import context

from core.config import load_settings
from core.db import make_engine
from core.models import Base

engine = context.config.attributes.get("engine") or make_engine(load_settings().database_url)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.driver_connection if sqlite else None
    if raw is not None:
        # Batch migrations rebuild a table (copy, drop, rename); with foreign keys enforced, dropping the old table
        # cascade-deletes every child row (an item's variants, say). SQLite ignores this pragma inside a
        # transaction, so it is set on the raw connection before Alembic begins one, and checked afterwards.
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                raise RuntimeError(f"migration left {len(broken)} rows with dangling foreign keys")
        connection.commit()
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")

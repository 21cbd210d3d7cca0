"""Alembic environment: runs online against the engine the app hands over, or one built from Settings."""

from alembic import context

from core.config import load_settings
from core.db import make_engine
from core.models import Base

engine = context.config.attributes.get("engine") or make_engine(load_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

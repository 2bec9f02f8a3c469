"""Alembic environment: runs on the connection that ``Store.open`` hands over.

There is no alembic.ini at run time.  ``screenpop.store.connections`` builds the Alembic
config in code, takes its migration lock (a PostgreSQL advisory lock, or
SQLite's write lock) on one connection and passes that connection in
``config.attributes["connection"]``, so the migration runs inside the lock's
transaction.
"""

from __future__ import annotations

from alembic import context

from screenpop.store.schema import VERSION_TABLE, metadata


def run_migrations() -> None:
    """Migrate on the caller's connection; there is no other way in."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "screenpop's migrations run through screenpop.store.Store.open(url), "
            "which passes its own connection; the alembic command line is not wired up"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

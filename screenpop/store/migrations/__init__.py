"""Alembic migrations of screenpop's store, run to head by ``Store.open``."""

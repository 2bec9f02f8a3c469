"""Alembic revisions of screenpop's store, oldest first by revision id."""

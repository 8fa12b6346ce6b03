"""Alembic migrations of the news-monitor schema, shipped inside the package.

``monitor db upgrade`` runs them (see :mod:`monitor.store.schema`); a new
schema change is a new file in ``versions/`` whose ``down_revision`` is the
current head.  Revisions use only plain SQLAlchemy types, never the models,
so an old revision keeps meaning what it meant when it was written.
"""

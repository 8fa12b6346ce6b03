"""Revision files, oldest first by number; alembic orders them by ``down_revision``."""

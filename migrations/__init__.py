"""Alembic migrations, shipped inside the package so an installed syncer can apply them."""

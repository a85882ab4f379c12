"""Alembic environment.

The syncer applies migrations itself at start, passing its own connection in
`config.attributes`. From a checkout, `alembic upgrade head` (with alembic.ini beside this
folder) works too: the database comes from `-x url=sqlite:///PATH` or alembic.ini's
`sqlalchemy.url`.
"""

from alembic import context
from sqlalchemy import create_engine

from syncer.store.tables import metadata

given = context.config.attributes.get("connection")
if given is not None:
    context.configure(connection=given, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_engine(str(url))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()

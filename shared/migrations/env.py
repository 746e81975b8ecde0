"""alembic's environment, for ``danbao db revision`` (alembic's own commands): the service's schema and an
open connection come in ``config.attributes``; the options are the runner's. Upgrades at run time do not
come through here (shared/migrations/runner.py drives alembic directly)."""

from alembic import context

from shared.migrations.runner import context_options

schema = context.config.attributes["schema"]
connection = context.config.attributes["connection"]
context.configure(connection=connection, **context_options(schema))
with context.begin_transaction():
    context.run_migrations()

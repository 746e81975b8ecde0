"""``danbao db``: each service's database schema against its code (alembic revisions in services/<name>/migrations).

Each service's database is found as the service finds it: ``DANBAO_<SERVICE>_DATABASE_URL`` (or the file
``danbao_<service>_database_url`` in ``DANBAO_SECRETS_DIR``), else its SQLite file in ``DANBAO_DATA_DIR``.
Nothing here needs the broker or the services' other secrets, so the deploy's migration job mounts only the
database URLs.
"""

from __future__ import annotations

import asyncio
import importlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ops.cli_common import console
from ops.platform import EDGES, SERVICES

OWNERS = (*SERVICES, *EDGES)  # everything with a database of its own: the five services and the web edge

db = typer.Typer(help="Each service's database schema: its revision, upgrades, checks (runbook: Upgrade a release).",
                 no_args_is_help=True)

ServiceOption = Annotated[str | None, typer.Option("--service", help=f"One service: {', '.join(OWNERS)} (default: all).")]


def _schema(service: str) -> Any:
    if service not in OWNERS:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(OWNERS)}", param_hint="--service")
    return importlib.import_module(f"services.{service}.migrations").SCHEMA


def _database(service: str) -> Any:
    from ops.stores import service_database
    from shared.settings import Mode, PlatformSettings, ServiceSettings

    settings = ServiceSettings(_env_prefix=f"DANBAO_{service.upper()}_")  # type: ignore[call-arg]
    if settings.database_url is None and PlatformSettings().mode is Mode.PRODUCTION:
        console.print(f"[red]{service}: DANBAO_{service.upper()}_DATABASE_URL is not set (nor danbao_{service}_database_url "
                      "in DANBAO_SECRETS_DIR); production mode will not use a SQLite file in its place[/red]")
        raise typer.Exit(1)
    return service_database(service, settings)


def _where(database: Any) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(database.url)
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


async def _each(services: list[str], work: Any) -> list[Any]:
    """``work(schema, database)`` for each service's database, in turn."""
    results = []
    for service in services:
        database = _database(service)
        try:
            results.append(await work(_schema(service), database))
        finally:
            await database.dispose()
    return results


def _services(service: str | None) -> list[str]:
    if service is not None:
        _schema(service)
        return [service]
    return list(OWNERS)


@db.command("upgrade")
def upgrade(
    service: ServiceOption = None,
    every: Annotated[bool, typer.Option("--all", help="Every service's database, and the web edge's.")] = False,
) -> None:
    """Bring the database(s) to the code's revision: each one transaction, under a PostgreSQL advisory lock (instances
    upgrading at start-up meanwhile wait). A database made before migrations is adopted. Exit 1 if one is refused."""
    from shared.migrations import SchemaRefused, upgrade_database

    if (service is None) == (not every):
        raise typer.BadParameter("name one --service, or --all")
    refused = False

    async def one(schema: Any, database: Any) -> None:
        nonlocal refused
        console.print(f"{schema.service}: {_where(database)}")
        try:
            console.print((await upgrade_database(database, schema)).describe())
        except SchemaRefused as exc:
            console.print(f"[red]{exc}[/red]")
            refused = True

    asyncio.run(_each(_services(service), one))
    if refused:
        raise typer.Exit(1)


@db.command("current")
def current(service: ServiceOption = None) -> None:
    """Each database's revision, and the code's."""
    from shared.migrations import database_status

    async def one(schema: Any, database: Any) -> tuple[str, ...]:
        status = await database_status(database, schema)
        return schema.service, _where(database), status.revision or "—", status.head, status.state

    table = Table(title="database schemas")
    for column in ("service", "database", "revision", "code's revision", "state"):
        table.add_column(column, overflow="fold")
    for row in asyncio.run(_each(_services(service), one)):
        table.add_row(*row)
    Console().print(table)


@db.command("check")
def check(service: ServiceOption = None) -> None:
    """Exit 1 unless every database is at its code's revision and holds what the models describe (alembic's
    autogenerate finds no difference): before starting services with DANBAO_DB_UPGRADE_AT_START=false."""
    from shared.migrations import database_differences, database_status
    from shared.migrations.runner import describe_difference

    async def one(schema: Any, database: Any) -> bool:
        status = await database_status(database, schema)
        if not status.ok:
            console.print(f"[red]{schema.service}: {status.describe()}: run `danbao db upgrade --service {schema.service}`[/red]")
            return False
        found = [describe_difference(d) for d in await database_differences(database, schema)]
        for difference in found:
            console.print(f"[red]{schema.service}: at {status.revision}, yet differs from the models: {difference}[/red]")
        if not found:
            console.print(f"{schema.service}: {status.describe()}")
        return not found

    if not all(asyncio.run(_each(_services(service), one))):
        raise typer.Exit(1)


@db.command("revision")
def revision(
    service: Annotated[str, typer.Option("--service", help="The service whose models changed.")],
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does, in a few words.")],
) -> None:
    """Write the service's next revision from what its models gained since the last one (alembic's autogenerate,
    against a scratch SQLite database at the current revision). Review it before committing: see its docstring."""
    from alembic import command
    from sqlalchemy import create_engine

    from shared.migrations.runner import alembic_config, forget_scripts, scripts, upgrade as run_upgrade

    schema = _schema(service)
    number = max(int(s.revision) for s in scripts(schema).walk_revisions()) + 1
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with engine.begin() as connection:
                run_upgrade(connection, schema)
                config = alembic_config(schema)
                config.attributes["connection"] = connection
                script = command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")
        finally:
            engine.dispose()
    forget_scripts()
    path = getattr(script, "path", None)
    console.print(f"wrote {path}: review it (renames, defaults for NOT NULL columns, data to move) before committing")

"""The `drillmgr` command: a Flask CLI group around create_app (Flask-Migrate adds `db`)."""

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from drillmgr.db import gather_statistics
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.errors import ServiceError
from drillmgr.unit_of_work import one_unit


def _fail(error: ServiceError):
    lines = [error.detail] + [
        f"  {field}: {m}" if field != "lines" else f"  {m}"
        for field, messages in error.errors.items()
        for m in messages
    ]
    raise click.ClickException("\n".join(lines))


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(Role.values()))
@click.option("--region", "region_code", help="Region code, for coordinators and viewers.")
@click.option("--org", "org_id", type=int, help="Organisation id, for unit staff.")
@click.option("--email")
@click.password_option("--password", prompt="Password", confirmation_prompt=True)
@one_unit
def create_user_command(username, role, region_code, org_id, email, password):
    """Create a user (prompts for the password when --password is not given)."""
    from drillmgr.access.services import SYSTEM
    from drillmgr.accounts.services import create_user

    try:
        user = create_user(
            SYSTEM,
            {
                "username": username,
                "password": password,
                "role": role,
                "region_code": region_code,
                "org_id": org_id,
                "email": email,
            },
        )
    except ServiceError as error:
        _fail(error)
    click.echo(f"created user {user.username} (id {user.id}, {user.role.value})")


@click.command("import-orgs")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_unit
def import_orgs_command(file):
    """Import organisations from CSV or XLSX (name, kind, region_code, headcount): all rows or none."""
    from drillmgr.access.services import SYSTEM
    from drillmgr.orgs.services import import_orgs, read_rows

    try:
        orgs = import_orgs(SYSTEM, read_rows(file))
    except ServiceError as error:
        _fail(error)
    click.echo(f"imported {len(orgs)} organisations")


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--orgs",
    "org_count",
    type=click.IntRange(min=0),
    default=None,
    help="Number of sample organisations (default: a few hundred).",
)
@click.option(
    "--drills",
    "drill_count",
    type=click.IntRange(min=0),
    default=None,
    help="Number of sample drills (default: a year of drills).",
)
@click.option(
    "--if-empty",
    is_flag=True,
    help="When the database already has data, load nothing and just print the demo accounts.",
)
@one_unit
def seed_demo_command(org_count, drill_count, if_empty):
    """Load Tacheng's regions and clearly marked demo organisations, users and drills."""
    from drillmgr.demo.services import database_is_empty, demo_accounts_text, demo_loaded, seed_demo

    if if_empty and not database_is_empty():
        click.echo("database already has data; demo not loaded")
        click.echo(demo_accounts_text())
        return
    if demo_loaded():
        raise click.ClickException("the demo data is already loaded; seed a fresh database for another size")
    summary = seed_demo(org_count=org_count, drill_count=drill_count, progress=click.progressbar)
    gather_statistics(db.session.connection())  # after a bulk load, before the first page is asked for
    click.echo(summary.describe())


@click.command("backup")
@with_appcontext
@click.option(
    "--to",
    "target_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the archive (default: instance/backups).",
)
def backup_command(target_dir):
    """Back up the database and the uploaded attachments into one .tar.gz archive."""
    from drillmgr.backup.services import BackupError, backup

    config = current_app.config
    try:
        archive = backup(
            config["SQLALCHEMY_DATABASE_URI"],
            config["UPLOAD_DIR"],
            target_dir or Path(current_app.instance_path) / "backups",
        )
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backup written to {archive} ({archive.stat().st_size} bytes)")


@click.command("restore")
@with_appcontext
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database and the attachments.")
def restore_command(archive, yes):
    """Replace the database and the attachments with those of a `drillmgr backup` archive."""
    from drillmgr.backup.services import BackupError, restore

    config = current_app.config
    url = config["SQLALCHEMY_DATABASE_URI"]
    if not yes:
        from sqlalchemy.engine import make_url

        click.confirm(
            f"Replace the database {make_url(url).render_as_string()} and {config['UPLOAD_DIR']} "
            f"with {archive.name}? Stop the web server and the scheduler first.",
            abort=True,
        )

    db.engine.dispose()  # no pooled connection of ours holds the tables that are replaced
    try:
        restore(archive, url, config["UPLOAD_DIR"])
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {archive}")


@click.command("demo-accounts")
@with_appcontext
def demo_accounts_command():
    """Print the demo accounts and their passwords."""
    from drillmgr.demo.services import demo_accounts_text

    click.echo(demo_accounts_text())


@click.command("publish-calendars")
@with_appcontext
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write (default: DRILLMGR_CALENDAR_DIR).",
)
@one_unit
def publish_calendars_command(directory):
    """Write public.ics and one public-<county>.ics per county, atomically, where they changed."""
    from drillmgr.calendars.publish import publish_static

    changed = publish_static(directory)
    click.echo(f"updated: {', '.join(changed)}" if changed else "calendars unchanged")


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduler process; however many run, only the lease holder runs jobs."""
    import logging

    from drillmgr.notifications.sender import SmtpSettingsError
    from drillmgr.scheduler.process import SchedulerProcess
    from drillmgr.scheduler.runner import ScheduleError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        process = SchedulerProcess(current_app._get_current_object())
    except (SmtpSettingsError, ScheduleError) as error:
        raise click.ClickException(str(error)) from error
    process.run()


@click.command("compliance")
@with_appcontext
@click.option("--year", type=click.IntRange(2000, 2100), required=True, help="Calendar year to evaluate.")
@click.option("--region", "region_code", help="Region code (default: all counties).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@one_unit
def compliance_command(year, region_code, fmt):
    """Evaluate the compliance rules of a year and print every status."""
    import json

    from drillmgr.access.services import SYSTEM
    from drillmgr.compliance.evaluation import evaluate
    from drillmgr.compliance.results import format_table
    from drillmgr.compliance.schemas import ComplianceSchema

    try:
        results = evaluate(year, region_code, actor=SYSTEM)
    except ServiceError as error:
        _fail(error)
    if fmt == "json":
        click.echo(
            json.dumps(
                ComplianceSchema(only=("year", "rules")).dump({"year": year, "rules": results}),
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo(format_table(results))


COMMANDS = (
    create_user_command,
    import_orgs_command,
    seed_demo_command,
    backup_command,
    restore_command,
    demo_accounts_command,
    publish_calendars_command,
    scheduler_command,
    compliance_command,
)


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def main() -> None:
    from drillmgr import create_app

    FlaskGroup(create_app=create_app, help="drillmgr — earthquake drill and readiness manager").main()
